"""The markdown report: baseline vs fine-tuned, per class, efficiency, data and params.

Everything here is formatting; the numbers come from the metrics files the stages wrote.
"""

from __future__ import annotations

import yaml

HEADLINE_METRICS = (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("weighted_f1", "Weighted-F1"))


def _signed(delta: float) -> str:
    return f"{delta:+.4f}"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def render_report(
    *,
    params: dict,
    data_summary: dict,
    baseline: dict,
    finetuned: dict,
    training: dict,
    label_names: list[str],
    figures: dict[str, str],
) -> str:
    """`figures` maps confusion / curves / per_class_f1 to image paths relative to the report."""
    gain = finetuned["accuracy"] - baseline["accuracy"]
    trainable = training["parameters"]
    sections = [
        "# LoRA fine-tuning report",
        (
            f"LoRA fine-tuning of `{params['model']['name']}` on `{params['data']['dataset']}` took test "
            f"accuracy from **{baseline['accuracy']:.4f}** (untuned) to **{finetuned['accuracy']:.4f}** "
            f"({_signed(gain)}), training {trainable['trainable']:,} of {trainable['total']:,} parameters "
            f"({trainable['trainable_percent']:.2f}%) for {training['train_time_s']:.0f} s."
        ),
        "## Test set",
        _table(
            ["Metric", "Untuned baseline", "Fine-tuned (LoRA)", "Change"],
            [
                [label, f"{baseline[key]:.4f}", f"{finetuned[key]:.4f}", _signed(finetuned[key] - baseline[key])]
                for key, label in HEADLINE_METRICS
            ],
        ),
        f"Test rows: {data_summary['test']['rows']:,}. The untuned model is the pretrained encoder "
        "with a fresh classification head, the same one training starts from.",
        "## Per-class F1",
        _table(
            ["Class", "Test rows", "Untuned F1", "Fine-tuned F1", "Change", "Fine-tuned precision", "Fine-tuned recall"],
            [
                [
                    name,
                    f"{data_summary['test']['classes'][name]:,}",
                    f"{baseline['per_class'][name]['f1']:.4f}",
                    f"{finetuned['per_class'][name]['f1']:.4f}",
                    _signed(finetuned["per_class"][name]["f1"] - baseline["per_class"][name]["f1"]),
                    f"{finetuned['per_class'][name]['precision']:.4f}",
                    f"{finetuned['per_class'][name]['recall']:.4f}",
                ]
                for name in label_names
            ],
        ),
        f"![Per-class F1 of both models]({figures['per_class_f1']})",
        "## Confusion matrices",
        "Rows are the true class, columns the predicted one; the diagonal counts correct answers.",
        f"![Confusion matrices of the untuned and the fine-tuned model]({figures['confusion']})",
        "## Training",
        f"![Training loss and validation scores]({figures['curves']})",
        _table(
            ["Efficiency", "Value"],
            [
                ["Trainable parameters", f"{trainable['trainable']:,} ({trainable['trainable_percent']:.2f}% of {trainable['total']:,})"],
                ["Adapter size on disk", f"{training['adapter_size_mb']:.2f} MB"],
                ["Training time", f"{training['train_time_s']:.1f} s"],
                ["Training throughput", f"{training['train_samples_per_second']:.1f} samples/s"],
                ["Last validation accuracy", f"{training['validation']['accuracy']:.4f}"],
                ["Last validation macro-F1", f"{training['validation']['macro_f1']:.4f}"],
            ],
        ),
        "## Data",
        _table(
            ["Split", "Rows", *label_names],
            [
                [split, f"{summary['rows']:,}", *(f"{summary['classes'][name]:,}" for name in label_names)]
                for split, summary in data_summary.items()
            ],
        ),
        "## Params",
        "```yaml\n" + yaml.safe_dump(params, sort_keys=False).rstrip() + "\n```",
    ]
    return "\n\n".join(sections) + "\n"
