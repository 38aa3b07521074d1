"""Markdown: the report (untuned vs classical vs fine-tuned, how sure, per class, efficiency,
data, params), and the README's table of methods.

Everything here is formatting; the numbers come from the metrics files the stages wrote.

    python -m src.presentation.markdown      # prints the README's table of methods
"""

from __future__ import annotations

import pandas as pd
import yaml

from src.core.paths import SPLITS
from src.data.splits import LONG_TEXT_SHARE
from src.model.methods import METHODS
from src.presentation.titles import EVALUATION_NAMES, EVALUATION_TITLES
from src.scoring.errors import confused_pairs

HEADLINE_METRICS = (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("weighted_f1", "Weighted-F1"))
# What a result folder holds, by `Method.saves`.
SAVED_AS = {"adapter": "peft adapter + head", "head": "the head alone", "model": "the whole model"}
# The error analysis shows this many confused class pairs, each with this many mistakes.
ERROR_PAIRS, ERROR_EXAMPLES = 5, 3
# Texts longer than this are cut for the page (reports/errors.csv keeps them whole).
SHOWN_TEXT_CHARS = 160


def _signed(delta: float) -> str:
    return f"{delta:+.4f}"


def _p(p_value: float) -> str:
    return "p < 0.0001" if p_value < 1e-4 else f"p = {p_value:.4f}"


def markdown_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def significance_sentence(a: str, b: str, test: dict, alpha: float) -> str:
    """One sentence saying in words whether `a` and `b` differ on the test rows."""
    kind = "exact binomial" if test["exact"] else "chi-square"
    verdict = "significant" if test["p_value"] < alpha else "not significant"
    return (
        f"{EVALUATION_NAMES[a].capitalize()} is right on {test['a_only_right']:,} test rows that "
        f"{EVALUATION_NAMES[b]} gets wrong, and wrong on {test['b_only_right']:,} that it gets right: "
        f"the difference is **{verdict}** at the {alpha:.0%} level (McNemar's {kind} test, {_p(test['p_value'])})."
    )


def render_report(
    *,
    params: dict,
    data_summary: dict,
    evaluations: dict[str, dict],
    significance: dict,
    training: dict,
    errors: pd.DataFrame,
    label_names: list[str],
    figures: dict[str, str],
) -> str:
    """`evaluations` maps baseline / classical / finetuned to their metrics; `errors` is
    src/scoring/errors.error_table; `figures` maps confusion / curves / per_class_f1 /
    reliability to image paths relative to the report."""
    base, classical, tuned = evaluations["baseline"], evaluations["classical"], evaluations["finetuned"]
    method = METHODS[training["method"]].title
    titles = {**EVALUATION_TITLES, "finetuned": f"Fine-tuned ({method})"}
    confidence = params["stats"]["confidence"]
    alpha = 1 - confidence
    trainable = training["parameters"]
    intervals = significance["intervals"]
    tests = significance["mcnemar"]
    sections = [
        "# Fine-tuning report",
        *warnings(training, tests["finetuned_vs_classical"], alpha),
        (
            f"Fine-tuning ({method}) of `{params['model']['name']}` on `{params['data']['dataset']}` took test "
            f"accuracy from **{base['accuracy']:.4f}** (untuned) to **{tuned['accuracy']:.4f}** "
            f"({_signed(tuned['accuracy'] - base['accuracy'])}), against **{classical['accuracy']:.4f}** for "
            f"TF-IDF + logistic regression on the same rows, training {trainable['trainable']:,} of "
            f"{trainable['total']:,} parameters ({trainable['trainable_percent']:.2f}%) for "
            f"{training['train_time_s']:.0f} s."
        ),
        "## Test set",
        markdown_table(
            ["Metric", *(titles[name] for name in evaluations), "Fine-tuned vs untuned", "Fine-tuned vs TF-IDF + LR"],
            [
                [
                    label,
                    *(f"{metrics[key]:.4f}" for metrics in evaluations.values()),
                    _signed(tuned[key] - base[key]),
                    _signed(tuned[key] - classical[key]),
                ]
                for key, label in HEADLINE_METRICS
            ],
        ),
        f"Test rows: {data_summary['test']['rows']:,}. The untuned model is the pretrained encoder "
        "with a fresh classification head, the same one training starts from. TF-IDF + LR is "
        "fit on the same training rows as the fine-tuned model.",
        "## How sure are these numbers?",
        f"{confidence:.0%} bootstrap intervals ({params['stats']['bootstrap_resamples']:,} resamples of the test rows):",
        markdown_table(
            ["Model", "Accuracy", f"{confidence:.0%} interval", "Macro-F1", f"{confidence:.0%} interval"],
            [
                [
                    titles[name],
                    f"{metrics['accuracy']:.4f}",
                    f"{intervals[name]['accuracy']['low']:.4f} – {intervals[name]['accuracy']['high']:.4f}",
                    f"{metrics['macro_f1']:.4f}",
                    f"{intervals[name]['macro_f1']['low']:.4f} – {intervals[name]['macro_f1']['high']:.4f}",
                ]
                for name, metrics in evaluations.items()
            ],
        ),
        "Paired tests on the same test rows (McNemar's test: exact where fewer than 25 rows differ):",
        "\n".join(f"- {significance_sentence(*pair.split('_vs_'), test, alpha)}" for pair, test in tests.items()),
        "## Per-class F1",
        markdown_table(
            [
                "Class",
                "Test rows",
                *(titles[name] for name in evaluations),
                "Fine-tuned precision",
                "Fine-tuned recall",
            ],
            [
                [
                    name,
                    f"{data_summary['test']['classes'][name]:,}",
                    *(f"{metrics['per_class'][name]['f1']:.4f}" for metrics in evaluations.values()),
                    f"{tuned['per_class'][name]['precision']:.4f}",
                    f"{tuned['per_class'][name]['recall']:.4f}",
                ]
                for name in label_names
            ],
        ),
        f"![Per-class F1 of each model]({figures['per_class_f1']})",
        "## Confusion matrices",
        "Rows are the true class, columns the predicted one; the diagonal counts correct answers.",
        f"![Confusion matrices of the untuned, classical and fine-tuned models]({figures['confusion']})",
        *error_section(errors),
        *calibration_section(evaluations, titles, figures["reliability"]),
        "## Training",
        f"![Training loss and validation scores]({figures['curves']})",
        markdown_table(
            ["Efficiency", "Value"],
            efficiency_rows(
                training,
                method,
                validation=[
                    ["Validation accuracy of the epoch kept", f"{training['validation']['accuracy']:.4f}"],
                    ["Validation macro-F1 of the epoch kept", f"{training['validation']['macro_f1']:.4f}"],
                ],
            ),
        ),
        "## Data",
        markdown_table(
            ["Split", "From", "Rows", "Of available", "Dropped", "Longer than max_length", *label_names],
            [
                [
                    split,
                    data_summary[split]["origin"],
                    f"{data_summary[split]['rows']:,}",
                    f"{data_summary[split]['available']:,}",
                    dropped_cell(data_summary[split]["dropped"]),
                    f"{data_summary[split]['truncated']:,}",
                    *(f"{data_summary[split]['classes'][name]:,}" for name in label_names),
                ]
                for split in SPLITS
            ],
        ),
        *data_notes(data_summary),
        (
            f"Texts that also appear in the training rows (case and surrounding spaces ignored): "
            f"{data_summary['leakage']['test_texts_in_train']:,} of the test rows and "
            f"{data_summary['leakage']['validation_texts_in_train']:,} of the validation rows. They are "
            "kept, so scores stay comparable with other work on the same test split."
        ),
        "## Params",
        "```yaml\n" + yaml.safe_dump(params, sort_keys=False).rstrip() + "\n```",
    ]
    return "\n\n".join(sections) + "\n"


def efficiency_rows(
    training: dict, method: str, loss: list[list[str]] = (), validation: list[list[str]] = ()
) -> list[list[str]]:
    """The report's efficiency table: what was trained, for how long, at what cost; `loss` rows
    go after the epoch kept, `validation` rows last."""
    trainable = training["parameters"]
    return [
        [
            "Trainable parameters",
            f"{trainable['trainable']:,} ({trainable['trainable_percent']:.2f}% of {trainable['total']:,})",
        ],
        ["Method", method],
        ["Saved weights on disk", f"{training['artefact_size_mb']:.2f} MB"],
        [
            "Epochs run (optimizer steps, warm-up steps)",
            f"{training['epochs_run']} ({training['optimizer_steps']:,}, {training['warmup_steps']:,})",
        ],
        ["Epoch kept", kept_cell(training)],
        *loss,
        ["Training time", f"{training['train_time_s']:.1f} s"],
        ["Training throughput", f"{training['train_samples_per_second']:.1f} samples/s"],
        ["Peak memory of the train stage (RSS)", f"{training['peak_rss_mb']:,.0f} MB"],
        *validation,
    ]


def kept_cell(training: dict) -> str:
    kept = training["kept"]
    resumed = training.get("resumed_from_step")
    return (
        f"{kept['epoch']} of {training['epochs_run']} run (best validation {kept['metric']}); {training['stopped']}"
        + (f"; resumed from the checkpoint at step {resumed:,}" if resumed else "")
    )


def shorten(text: str, limit: int = SHOWN_TEXT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cell(text: str) -> str:
    return shorten(text).replace("|", "\\|")


def error_section(errors: pd.DataFrame) -> list[str]:
    """The most-confused class pairs, each with the fine-tuned model's surest mistakes."""
    lines = ["## Errors of the fine-tuned model"]
    if errors.empty:
        return [*lines, "It got every test row right."]
    lines.append(
        f"It got {len(errors):,} test row{'s' if len(errors) != 1 else ''} wrong; all of them, texts whole, "
        "are in `reports/errors.csv`. "
        f"The {ERROR_PAIRS} most frequent confusions, each with its most confident mistakes:"
    )
    pair = "text_pair" in errors.columns
    for found in confused_pairs(errors, ERROR_PAIRS, ERROR_EXAMPLES):
        rows = f"{found['rows']:,} row" + ("s" if found["rows"] != 1 else "")
        lines.append(f"**{found['actual']} read as {found['predicted']}** ({rows})")
        lines.append(
            markdown_table(
                ["Text", *(["Second text"] if pair else []), "True", "Predicted", "Probability"],
                [
                    [
                        _cell(row["text"]),
                        *([_cell(row["text_pair"])] if pair else []),
                        row["actual"],
                        row["predicted"],
                        f"{row['probability']:.3f}",
                    ]
                    for _, row in found["examples"].iterrows()
                ],
                align="l" * (3 + pair) + "r",
            )
        )
    return lines


def calibration_section(evaluations: dict[str, dict], titles: dict[str, str], figure: str) -> list[str]:
    """ECE and Brier score of each model, and the fine-tuned model's before temperature scaling."""
    tuned = evaluations["finetuned"]["calibration"]
    rows = [
        [titles[name], f"{metrics['calibration']['ece']:.4f}", f"{metrics['calibration']['brier']:.4f}"]
        for name, metrics in evaluations.items()
    ]
    rows.insert(
        -1,
        [
            f"{titles['finetuned']}, before temperature scaling",
            f"{tuned['ece_unscaled']:.4f}",
            f"{tuned['brier_unscaled']:.4f}",
        ],
    )
    return [
        "## Calibration",
        f"Does a confidence of 0.9 mean right 9 times in 10? Expected calibration error (ECE, "
        f"{tuned['bins']} confidence bins; 0 is perfect) and Brier score (lower is better) on test. The fine-tuned "
        f"model's logits are divided by a temperature of **{tuned['temperature']:.3f}**, fitted on the validation "
        "split; predict and export use it too. It changes no prediction, only the confidence.",
        markdown_table(["Model", "ECE", "Brier score"], rows),
        f"![Reliability diagrams: accuracy against confidence]({figure})",
    ]


def warnings(training: dict, against_classical: dict, alpha: float) -> list[str]:
    """What must be read before the scores: a collapsed training run, and a fine-tuned model that
    does not beat TF-IDF + LR."""
    notes = []
    collapse = training.get("collapse") or {}
    if collapse.get("collapsed"):
        notes.append(
            f"> **Warning: training collapsed.** On validation, {collapse['reason']}: the fine-tuned model "
            f"is a near-constant classifier. Likely fix: {collapse['fix']}."
        )
    tuned_ahead = against_classical["a_only_right"] > against_classical["b_only_right"]
    if against_classical["p_value"] < alpha and not tuned_ahead:
        notes.append(
            "> **TF-IDF + logistic regression beats the fine-tuned model** on these test rows "
            f"({_p(against_classical['p_value'])}): fine-tuning did not pay for itself here."
        )
    elif against_classical["p_value"] >= alpha:
        notes.append(
            "> **The fine-tuned model is not significantly better than TF-IDF + logistic regression** "
            f"on these test rows ({_p(against_classical['p_value'])}): word counts do as well here."
        )
    return notes


DROP_TITLES = {"null_label": "no label", "unlabelled": "unlabelled", "empty_text": "empty text"}


def dropped_cell(dropped: dict[str, int]) -> str:
    shown = [f"{count:,} {DROP_TITLES[reason]}" for reason, count in dropped.items() if count]
    return ", ".join(shown) or "0"


def data_notes(data_summary: dict) -> list[str]:
    """Sentences on carved splits and cut texts, where there are any."""
    notes = []
    carved = [split for split in SPLITS if data_summary[split]["origin"].startswith("carved")]
    if carved:
        notes.append(
            f"The dataset has no usable {' or '.join(carved)} split, so {'they were' if len(carved) > 1 else 'it was'} "
            "carved from its training rows (stratified by label, seeded by `data.seed`, no row in two splits; "
            "shares in `data.carve`). Scores on a carved test split are not comparable with published ones."
        )
    max_length = data_summary.get("max_length")
    cut = [
        split for split in SPLITS if data_summary[split]["truncated"] > LONG_TEXT_SHARE * data_summary[split]["rows"]
    ]
    if max_length and cut:
        notes.append(
            "**Long texts:** "
            + ", ".join(f"{data_summary[s]['truncated']:,} of {data_summary[s]['rows']:,} {s}" for s in cut)
            + " "
            f"texts are longer than `model.max_length` ({max_length} tokens), and the model sees only their start. "
            "If the end of a text matters for its label, raise `model.max_length` (training time grows about in "
            "proportion), e.g. `dvc exp run -S model.max_length=256`."
        )
    return notes


def methods_table() -> str:
    """The README's table of methods, from their specs."""
    return markdown_table(
        ["`peft.method`", "What trains", "Saved in `models/finetuned/`", "Merges (`src.export`)", "Example"],
        [
            [f"`{m.name}`", m.trains, SAVED_AS[m.saves], "yes" if m.mergeable else "no", f"`{m.example}`"]
            for m in METHODS.values()
        ],
        align="lllll",
    )


if __name__ == "__main__":
    print(methods_table())
