"""The report of a multi-label run: the sections src/presentation/markdown.py writes for one label
per text, in their multi-label form (src/scoring/tasks.py says which applies).

Scores are per label and per row rather than per class: macro-, micro- and samples-F1, subset
accuracy, Hamming loss and ROC-AUC; the paired test compares per-row F1; the error analysis lists
the labels most often missed and most often added, with texts.
"""

from __future__ import annotations

import json

import pandas as pd
import yaml

from src.core.paths import SPLITS
from src.model.methods import METHODS
from src.presentation.markdown import (
    _cell,
    _p,
    _signed,
    data_notes,
    dropped_cell,
    efficiency_rows,
    markdown_table,
)
from src.presentation.titles import EVALUATION_NAMES, EVALUATION_TITLES

# (key, title, higher is better) of the test table.
TEST_METRICS = (
    ("macro_f1", "Macro-F1", True),
    ("micro_f1", "Micro-F1", True),
    ("samples_f1", "Samples-F1 (mean F1 of a row)", True),
    ("subset_accuracy", "Subset accuracy (every label of a row right)", True),
    ("hamming_loss", "Hamming loss (share of wrong label cells)", False),
    ("roc_auc_macro", "Macro ROC-AUC", True),
)
# The error analysis shows this many labels missed and added, each with this many texts.
ERROR_LABELS, ERROR_EXAMPLES = 5, 2


def label_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Every test row whose predicted labels are not its true ones: its text(s), the true and
    predicted labels, the labels missed and added (JSON lists, as in the predictions file)."""
    actual = predictions["actual"].map(json.loads)
    predicted = predictions["predicted"].map(json.loads)
    wrong = actual.map(set) != predicted.map(set)
    texts = [column for column in ("text", "text_pair") if column in predictions.columns]
    table = predictions.loc[wrong, [*texts, "actual", "predicted"]].copy()
    table["missed"] = [
        json.dumps(sorted(set(a) - set(p)), ensure_ascii=False)
        for a, p in zip(actual[wrong], predicted[wrong], strict=True)
    ]
    table["added"] = [
        json.dumps(sorted(set(p) - set(a)), ensure_ascii=False)
        for a, p in zip(actual[wrong], predicted[wrong], strict=True)
    ]
    table.insert(0, "row", table.index)
    return table.reset_index(drop=True)


def _most_often(errors: pd.DataFrame, predictions: pd.DataFrame, column: str) -> list[dict]:
    """The labels most often in `column` (missed or added), each with the texts whose probability
    of it was furthest on the wrong side: lowest for a miss, highest for a false alarm."""
    counts = errors[column].map(json.loads).explode().dropna().value_counts()
    found = []
    for label, rows in counts.head(ERROR_LABELS).items():
        holding = errors[errors[column].map(lambda cell, label=label: label in json.loads(cell))]
        probability = predictions.loc[holding["row"], f"p_{label}"].astype(float).to_numpy()
        holding = holding.assign(probability=probability).sort_values("probability", ascending=column == "missed")
        found.append({"label": label, "rows": int(rows), "examples": holding.head(ERROR_EXAMPLES)})
    return found


def error_section(errors: pd.DataFrame, predictions: pd.DataFrame) -> list[str]:
    lines = ["## Errors of the fine-tuned model"]
    if errors.empty:
        return [*lines, "Every test row got exactly its labels."]
    lines.append(
        f"{len(errors):,} test rows did not get exactly their labels; all of them, texts whole, are in "
        "`reports/errors.csv`."
    )
    for column, title, verb in (("missed", "Labels most often missed", "p"), ("added", "Labels most often added", "p")):
        lines.append(f"**{title}**")
        for found in _most_often(errors, predictions, column):
            lines.append(f"*{found['label']}*: {found['rows']:,} rows")
            lines.append(
                markdown_table(
                    ["Text", "True labels", "Predicted labels", f"{verb}({found['label']})"],
                    [
                        [
                            _cell(row["text"]),
                            ", ".join(json.loads(row["actual"])) or "(none)",
                            ", ".join(json.loads(row["predicted"])) or "(none)",
                            f"{row['probability']:.3f}",
                        ]
                        for _, row in found["examples"].iterrows()
                    ],
                    align="lllr",
                )
            )
    return lines


def paired_sentence(a: str, b: str, test: dict, alpha: float) -> str:
    verdict = "significant" if test["p_value"] < alpha else "not significant"
    difference = test["macro_f1_difference"]
    return (
        f"{EVALUATION_NAMES[a].capitalize()} has a mean per-row F1 of {test['a_row_f1']:.4f} against "
        f"{test['b_row_f1']:.4f} for {EVALUATION_NAMES[b]} (better on {test['a_better_rows']:,} rows, worse on "
        f"{test['b_better_rows']:,}): the difference is **{verdict}** at the {alpha:.0%} level (paired sign-flip "
        f"permutation test of per-row F1, {test['resamples']:,} permutations, {_p(test['p_value'])}). Macro-F1 "
        f"difference {_signed(difference['estimate'])} (paired bootstrap 95% interval {_signed(difference['low'])} "
        f"to {_signed(difference['high'])})."
    )


def warnings(training: dict, against_classical: dict, alpha: float) -> list[str]:
    notes = []
    collapse = training.get("collapse") or {}
    if collapse.get("collapsed"):
        notes.append(
            f"> **Warning: training collapsed.** On validation, {collapse['reason']}. Likely fix: {collapse['fix']}."
        )
    if against_classical["p_value"] < alpha and against_classical["difference"] < 0:
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


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def render_multilabel_report(
    *,
    params: dict,
    data_summary: dict,
    evaluations: dict[str, dict],
    significance: dict,
    training: dict,
    errors: pd.DataFrame,
    predictions: pd.DataFrame,
    label_names: list[str],
    figures: dict[str, str],
) -> str:
    base, classical, tuned = evaluations["baseline"], evaluations["classical"], evaluations["finetuned"]
    method = METHODS[training["method"]].title
    titles = {**EVALUATION_TITLES, "finetuned": f"Fine-tuned ({method})"}
    confidence = params["stats"]["confidence"]
    alpha = 1 - confidence
    trainable = training["parameters"]
    intervals, tests = significance["intervals"], significance["paired"]
    thresholds = params["eval"]["thresholds"]
    test_sets = data_summary["test"].get("label_sets", {})
    sections = [
        "# Fine-tuning report (multi-label)",
        *warnings(training, tests["finetuned_vs_classical"], alpha),
        (
            f"Fine-tuning ({method}) of `{params['model']['name']}` on `{params['data']['dataset']}` "
            f"({len(label_names)} labels, several per text) took test macro-F1 from **{base['macro_f1']:.4f}** "
            f"(untuned) to **{tuned['macro_f1']:.4f}** ({_signed(tuned['macro_f1'] - base['macro_f1'])}), against "
            f"**{classical['macro_f1']:.4f}** for TF-IDF + one-vs-rest logistic regression on the same rows, "
            f"training {trainable['trainable']:,} of {trainable['total']:,} parameters "
            f"({trainable['trainable_percent']:.2f}%) for {training['train_time_s']:.0f} s."
        ),
        "## Test set",
        markdown_table(
            ["Metric", *(titles[name] for name in evaluations), "Fine-tuned vs untuned", "Fine-tuned vs TF-IDF + LR"],
            [
                [
                    label,
                    *(_number(metrics[key]) for metrics in evaluations.values()),
                    "n/a" if None in (tuned[key], base[key]) else _signed(tuned[key] - base[key]),
                    "n/a" if None in (tuned[key], classical[key]) else _signed(tuned[key] - classical[key]),
                ]
                for key, label, _ in TEST_METRICS
            ],
        ),
        f"Test rows: {data_summary['test']['rows']:,}"
        + (
            f" ({test_sets['several_labels']:,} with two or more labels, {test_sets['no_label']:,} with none)"
            if test_sets
            else ""
        )
        + ". Each model predicts every label whose probability reaches that label's threshold, tuned on the "
        f"validation rows to the label's best F1 (`eval.thresholds.tune: {thresholds['tune']}`; labels with fewer "
        f"than {thresholds['min_positives']} validation rows keep {thresholds['fallback']}). The untuned model is "
        "the pretrained encoder with a fresh head, the one training starts from; TF-IDF + LR is one logistic "
        "regression per label, fit on the same training rows.",
        "## How sure are these numbers?",
        f"{confidence:.0%} bootstrap intervals ({params['stats']['bootstrap_resamples']:,} resamples of the test rows):",
        markdown_table(
            ["Model", "Macro-F1", f"{confidence:.0%} interval", "Micro-F1", f"{confidence:.0%} interval"],
            [
                [
                    titles[name],
                    f"{metrics['macro_f1']:.4f}",
                    f"{intervals[name]['macro_f1']['low']:.4f} – {intervals[name]['macro_f1']['high']:.4f}",
                    f"{metrics['micro_f1']:.4f}",
                    f"{intervals[name]['micro_f1']['low']:.4f} – {intervals[name]['micro_f1']['high']:.4f}",
                ]
                for name, metrics in evaluations.items()
            ],
        ),
        "Paired tests on the same test rows:",
        "\n".join(f"- {paired_sentence(*pair.split('_vs_'), test, alpha)}" for pair, test in tests.items()),
        "## Per-label scores",
        markdown_table(
            [
                "Label",
                "Test rows",
                *(f"{titles[name]} F1" for name in evaluations),
                "Fine-tuned precision",
                "Fine-tuned recall",
                "Threshold",
            ],
            [
                [
                    name,
                    f"{tuned['per_label'][name]['support']:,}",
                    *(f"{metrics['per_label'][name]['f1']:.4f}" for metrics in evaluations.values()),
                    f"{tuned['per_label'][name]['precision']:.4f}",
                    f"{tuned['per_label'][name]['recall']:.4f}",
                    _number(tuned["per_label"][name]["threshold"]),
                ]
                for name in label_names
            ],
        ),
        f"![Per-label F1 of each model]({figures['per_class_f1']})",
        "## Labels found, missed and added",
        "For each test row, every label it has or is given: rows are the true label, columns the predicted one. "
        "The diagonal counts labels found, the `(none)` column labels missed, the `(none)` row labels added.",
        f"![Labels found, missed and added by each model]({figures['confusion']})",
        *error_section(errors, predictions),
        "## Calibration",
        f"Does a probability of 0.9 for a label mean the label is there 9 times in 10? Expected calibration error "
        f"(ECE, {tuned['calibration']['bins']} bins, per label and averaged over labels; 0 is perfect) and Brier score "
        "(mean over labels; lower is better) on test. The fine-tuned model's logits are divided by a temperature of "
        f"**{tuned['calibration']['temperature']:.3f}**, fitted on validation; predict and export use it too.",
        markdown_table(
            ["Model", "ECE", "Brier score"],
            [
                *(
                    [titles[name], f"{m['calibration']['ece']:.4f}", f"{m['calibration']['brier']:.4f}"]
                    for name, m in evaluations.items()
                ),
                [
                    f"{titles['finetuned']}, before temperature scaling",
                    f"{tuned['calibration']['ece_unscaled']:.4f}",
                    f"{tuned['calibration']['brier_unscaled']:.4f}",
                ],
            ],
        ),
        f"![Reliability diagrams: share of labels present against predicted probability]({figures['reliability']})",
        "## Training",
        f"![Training loss and validation scores]({figures['curves']})",
        markdown_table(
            ["Efficiency", "Value"],
            efficiency_rows(
                training,
                method,
                loss=[
                    [
                        "Loss",
                        "binary cross-entropy per label"
                        + (", positives weighted" if training.get("class_weights") else ""),
                    ]
                ],
                validation=[
                    ["Validation macro-F1 of the epoch kept", f"{training['validation']['macro_f1']:.4f}"],
                    ["Validation subset accuracy of the epoch kept", f"{training['validation']['accuracy']:.4f}"],
                ],
            ),
        ),
        "## Data",
        markdown_table(
            ["Split", "From", "Rows", "Of available", "Dropped", "Longer than max_length", "No label", "2+ labels"],
            [
                [
                    split,
                    data_summary[split]["origin"],
                    f"{data_summary[split]['rows']:,}",
                    f"{data_summary[split]['available']:,}",
                    dropped_cell(data_summary[split]["dropped"]),
                    f"{data_summary[split]['truncated']:,}",
                    f"{data_summary[split].get('label_sets', {}).get('no_label', 0):,}",
                    f"{data_summary[split].get('label_sets', {}).get('several_labels', 0):,}",
                ]
                for split in SPLITS
            ],
        ),
        markdown_table(
            ["Label", *(f"{split} rows" for split in SPLITS)],
            [[name, *(f"{data_summary[split]['classes'][name]:,}" for split in SPLITS)] for name in label_names],
        ),
        *data_notes(data_summary),
        (
            f"Texts that also appear in the training rows (case and surrounding spaces ignored): "
            f"{data_summary['leakage']['test_texts_in_train']:,} of the test rows and "
            f"{data_summary['leakage']['validation_texts_in_train']:,} of the validation rows."
        ),
        "## Params",
        "```yaml\n" + yaml.safe_dump(params, sort_keys=False).rstrip() + "\n```",
    ]
    return "\n\n".join(sections) + "\n"
