import numpy as np
import pandas as pd
import pytest

from src.presentation.figures import (
    plot_confusion_matrices,
    plot_per_class_f1,
    plot_reliability,
    plot_training_curves,
)
from src.presentation.markdown import render_report
from src.scoring.calibration import calibration_metrics, reliability_table
from src.scoring.errors import error_table
from src.scoring.metrics import classification_metrics
from src.scoring.significance import compare_models

LABELS = ["neg", "pos"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


Y_TRUE = np.array([0, 0, 1, 1])
PROBABILITIES = {
    "baseline": np.array([[0.4, 0.6], [0.45, 0.55], [0.3, 0.7], [0.2, 0.8]]),
    "classical": np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]]),
    "finetuned": np.array([[0.95, 0.05], [0.8, 0.2], [0.1, 0.9], [0.6, 0.4]]),
}


@pytest.fixture
def evaluations():
    found = {}
    for name, probabilities in PROBABILITIES.items():
        found[name] = classification_metrics(Y_TRUE, probabilities.argmax(1), LABELS)
        found[name]["calibration"] = calibration_metrics(Y_TRUE, probabilities, bins=10)
    found["finetuned"]["calibration"].update(temperature=1.5, ece_unscaled=0.3, brier_unscaled=0.4)
    return found


def finetuned_predictions() -> pd.DataFrame:
    probabilities = PROBABILITIES["finetuned"]
    return pd.DataFrame(
        {
            "text": ["good | fine", "great", "bad", "awful " + "and long " * 40],
            "actual": np.array(LABELS)[Y_TRUE],
            "predicted": np.array(LABELS)[probabilities.argmax(1)],
            "confidence": probabilities.max(1),
            "p_neg": probabilities[:, 0],
            "p_pos": probabilities[:, 1],
        }
    )


def test_figures_are_written_as_png(tmp_path, evaluations):
    confusions = {
        "baseline": pd.DataFrame({"actual": ["neg", "pos"], "predicted": ["pos", "pos"]}),
        "finetuned": pd.DataFrame({"actual": ["neg", "pos"], "predicted": ["neg", "pos"]}),
    }
    curves = {
        "loss": pd.DataFrame({"step": [1, 2, 3, 4], "loss": [1.0, 0.8, 0.6, 0.5]}),
        "eval/accuracy": pd.DataFrame({"step": [2, 4], "accuracy": [0.6, 0.8]}),
    }
    plot_confusion_matrices(confusions, LABELS, tmp_path / "confusion.png")
    plot_training_curves(curves, tmp_path / "curves.png", kept_step=2)
    plot_per_class_f1(evaluations, LABELS, tmp_path / "f1.png")
    plot_reliability(
        {name: reliability_table(Y_TRUE, p, 10) for name, p in PROBABILITIES.items()}, tmp_path / "reliability.png"
    )
    for name in ("confusion.png", "curves.png", "f1.png", "reliability.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_report_tables_show_every_model_the_changes_and_how_sure(evaluations):
    y_true = np.array([0, 0, 1, 1])
    significance = compare_models(
        y_true,
        {"baseline": np.array([1, 1, 1, 1]), "classical": np.array([0, 1, 1, 0]), "finetuned": np.array([0, 0, 1, 0])},
        [("finetuned", "baseline"), ("finetuned", "classical")],
        n_labels=2,
        resamples=50,
        confidence=0.95,
        seed=0,
    )
    report = render_report(
        params={
            "model": {"name": "some/model"},
            "data": {"dataset": "some/data"},
            "stats": {"bootstrap_resamples": 50, "confidence": 0.95},
        },
        data_summary={
            **{
                split: {
                    "origin": f"{split}.jsonl",
                    "rows": 4,
                    "available": 6,
                    "truncated": 0,
                    "dropped": {"null_label": 1, "empty_text": 1, "unlabelled": 0},
                    "classes": {"neg": 2, "pos": 2},
                }
                for split in ("train", "validation", "test")
            },
            "leakage": {"validation_texts_in_train": 0, "test_texts_in_train": 3},
        },
        evaluations=evaluations,
        significance=significance,
        training={
            "method": "ia3",
            "parameters": {"trainable": 1000, "total": 100000, "trainable_percent": 1.0},
            "artefact_size_mb": 0.5,
            "peak_rss_mb": 2345.6,
            "epochs": 3,
            "optimizer_steps": 30,
            "warmup_steps": 15,
            "train_time_s": 12.3,
            "train_samples_per_second": 40.0,
            "validation": {"accuracy": 0.7, "macro_f1": 0.6},
            "epochs_run": 3,
            "kept": {"epoch": 2, "step": 20, "metric": "macro_f1"},
            "stopped": "ran all 3 epochs",
            "resumed_from_step": 10,
        },
        errors=error_table(finetuned_predictions()),
        label_names=LABELS,
        figures={
            "confusion": "figures/c.png",
            "curves": "figures/t.png",
            "per_class_f1": "figures/f.png",
            "reliability": "figures/r.png",
        },
    )
    # baseline accuracy 0.5 (all "pos"), classical 0.5, fine-tuned 0.75.
    assert "| Accuracy | 0.5000 | 0.5000 | 0.7500 | +0.2500 | +0.2500 |" in report
    assert "from **0.5000** (untuned) to **0.7500** (+0.2500), against **0.5000**" in report
    assert "| pos | 2 | 0.6667 | 0.5000 | 0.6667 |" in report
    # Only the fine-tuned model is right on rows 0 and 1, only the untuned on row 3: too few to be sure.
    assert "right on 2 test rows that the untuned model gets wrong, and wrong on 1 that it gets right" in report
    assert "**not significant** at the 5% level (McNemar's exact binomial test, p = 1.0000)" in report
    assert "| Untuned | 0.5000 | " in report and "95% interval" in report
    assert "| train | train.jsonl | 4 | 6 | 1 no label, 1 empty text | 0 | 2 | 2 |" in report
    assert "3 of the test rows and 0 of the validation rows" in report
    assert "1,000 (1.00% of 100,000)" in report
    assert "Fine-tuning (IA3) of" in report and "| Fine-tuned (IA3) |" in report
    assert "| Peak memory of the train stage (RSS) | 2,346 MB |" in report
    for figure in ("figures/c.png", "figures/t.png", "figures/f.png"):
        assert f"({figure})" in report
    assert "```yaml\nmodel:\n  name: some/model" in report
    assert "| Epochs run (optimizer steps, warm-up steps) | 3 (30, 15) |" in report
    assert (
        "| Epoch kept | 2 of 3 run (best validation macro_f1); ran all 3 epochs; resumed from the checkpoint "
        "at step 10 |" in report
    )
    # The one error: a long "pos" text read as "neg" at 0.6, cut for the page.
    errors = report.split("## Errors of the fine-tuned model")[1].split("## Calibration")[0]
    assert "It got 1 test row wrong" in errors
    assert "**pos read as neg** (1 row)" in errors
    assert "| awful and long and long" in errors and "long… | pos | neg | 0.600 |" in errors
    calibration = report.split("## Calibration")[1].split("## Training")[0]
    assert "a temperature of **1.500**" in calibration and "(figures/r.png)" in calibration
    assert "| Fine-tuned (IA3), before temperature scaling | 0.3000 | 0.4000 |" in calibration
    ece = evaluations["finetuned"]["calibration"]["ece"]
    assert f"| Fine-tuned (IA3) | {ece:.4f} |" in calibration
    # Fine-tuned and TF-IDF + LR differ on 2 rows: the report says so before any table.
    opening = report.split("## Test set")[0]
    assert "**The fine-tuned model is not significantly better than TF-IDF + logistic regression**" in opening
    assert "collapsed" not in opening


def test_report_opens_with_a_collapse_and_a_loss_to_tfidf():
    from src.presentation.markdown import warnings

    collapse = {"collapsed": True, "reason": "it predicts 'ham' for 100% of the validation rows", "fix": "lower it"}
    lost = {"a_only_right": 10, "b_only_right": 60, "p_value": 1e-9, "exact": 0}
    collapsed, beaten = warnings({"collapse": collapse}, lost, alpha=0.05)
    assert collapsed.startswith("> **Warning: training collapsed.** On validation, it predicts 'ham' for 100%")
    assert collapsed.endswith("Likely fix: lower it.")
    assert beaten.startswith("> **TF-IDF + logistic regression beats the fine-tuned model**")
    won = {"a_only_right": 60, "b_only_right": 10, "p_value": 1e-9, "exact": 0}
    assert warnings({"collapse": {"collapsed": False}}, won, alpha=0.05) == []


def test_readme_methods_table_is_the_registrys():
    from src.core.paths import PROJECT_ROOT
    from src.presentation.markdown import methods_table

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert methods_table() in readme, "README's table of methods is stale: paste `python -m src.presentation.markdown`"


def test_data_notes_say_which_splits_were_carved_and_which_texts_are_cut():
    from src.presentation.markdown import data_notes

    summary = {
        "train": {"origin": "train.parquet", "rows": 1000, "truncated": 910},
        "validation": {"origin": "carved from train (10%)", "rows": 200, "truncated": 5},
        "test": {"origin": "test.parquet", "rows": 1000, "truncated": 0},
        "max_length": 128,
    }
    carved, long_texts = data_notes(summary)
    assert carved.startswith("The dataset has no usable validation split, so it was carved from its training rows")
    assert "910 of 1,000 train texts are longer than `model.max_length` (128 tokens)" in long_texts
    assert "validation" not in long_texts  # 5 of 200 is under the 5% that earns a note
    summary["validation"]["origin"] = "validation.jsonl"
    summary["train"]["truncated"] = 0
    assert data_notes(summary) == []
