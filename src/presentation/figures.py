"""The report's PNG figures, drawn with matplotlib (Agg, so no display is needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from src.core.files import atomic_file  # noqa: E402
from src.presentation.titles import EVALUATION_TITLES  # noqa: E402


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_confusion_matrices(confusions: dict[str, pd.DataFrame], label_names: list[str], path: Path) -> None:
    """Confusion matrices side by side, one per evaluation, from `actual`/`predicted` columns."""
    side = max(4.8, 0.3 * len(label_names))  # many labels: room for their names, no numbers in the cells
    fig, axes = plt.subplots(1, len(confusions), figsize=((side + 0.4) * len(confusions), side), squeeze=False)
    for ax, (name, table) in zip(axes[0], confusions.items(), strict=True):
        ConfusionMatrixDisplay.from_predictions(
            table["actual"],
            table["predicted"],
            labels=label_names,
            include_values=len(label_names) <= 12,
            ax=ax,
            colorbar=False,
            xticks_rotation="vertical" if len(label_names) > 12 else 45,
            cmap="Blues",
        )
        ax.set_title(EVALUATION_TITLES[name])
    _save(fig, path)


def plot_training_curves(curves: dict[str, pd.DataFrame], path: Path, kept_step: int | None = None) -> None:
    """Training loss (left) and validation accuracy / macro-F1 (right) against the optimizer step,
    with a line at `kept_step`, the epoch whose weights were kept.

    `curves` maps a dvclive metric name (`loss`, `eval/loss`, `eval/accuracy`, `eval/macro_f1`)
    to its table of `step` and value.
    """
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(10.5, 4))
    for name, label, style in (("loss", "training loss", "-"), ("eval/loss", "validation loss", "o--")):
        if name in curves:
            table = curves[name]
            loss_ax.plot(table["step"], table.iloc[:, -1], style, label=label)
    loss_ax.set(xlabel="optimizer step", ylabel="cross-entropy", title="Loss")
    for name, label in (("eval/accuracy", "accuracy"), ("eval/macro_f1", "macro-F1")):
        if name in curves:
            table = curves[name]
            score_ax.plot(table["step"], table.iloc[:, -1], "o-", label=label)
    score_ax.set(
        xlabel="optimizer step (validation at each epoch end)", ylabel="score", ylim=(0, 1), title="Validation"
    )
    for ax in (loss_ax, score_ax):
        if kept_step is not None:
            ax.axvline(kept_step, color="green", linestyle=":", label="epoch kept")
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_reliability(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Reliability diagrams: each evaluation's accuracy against its mean confidence per bin,
    the point's area proportional to the bin's rows; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="calibrated")
    for name, table in tables.items():
        share = table["rows"] / table["rows"].sum()
        ax.plot(table["confidence"], table["accuracy"], "-", alpha=0.6)
        ax.scatter(table["confidence"], table["accuracy"], s=20 + 400 * share, label=EVALUATION_TITLES[name])
    ax.set(xlabel="confidence (probability of the predicted class)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Reliability on test")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_per_class_f1(
    metrics_by_model: dict[str, dict], label_names: list[str], path: Path, key: str = "per_class"
) -> None:
    """Grouped bars of each class's F1, one bar per evaluation."""
    many = len(label_names) > 12  # narrower bars, names turned, no numbers on the bars
    fig, ax = plt.subplots(figsize=(0.6 * len(label_names) + 4 if many else 1.4 * len(label_names) + 2, 4))
    width = 0.8 / len(metrics_by_model)
    x = np.arange(len(label_names))
    for i, (name, metrics) in enumerate(metrics_by_model.items()):
        f1 = [metrics[key][label]["f1"] for label in label_names]
        bars = ax.bar(x + (i - (len(metrics_by_model) - 1) / 2) * width, f1, width, label=EVALUATION_TITLES[name])
        if not many:
            ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(x, label_names, rotation=60 if many else 0, ha="right" if many else "center")
    ax.set(ylabel="F1 on test", ylim=(0, 1.2), title="Per-label F1" if key == "per_label" else "Per-class F1")
    ax.legend(loc="upper right", ncol=len(metrics_by_model))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def plot_accuracy_vs_trainable(runs: list[dict], path: Path) -> None:
    """Test accuracy against trainable parameters (log x), one labelled point per run.

    Each run has `label`, `trainable` and `accuracy`, and optionally `baseline_accuracy`, the
    untuned model's, drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        ax.scatter(run["trainable"], run["accuracy"], s=60, zorder=3)
        ax.annotate(
            run["label"], (run["trainable"], run["accuracy"]), textcoords="offset points", xytext=(6, -12), fontsize=9
        )
    baselines = {run["baseline_accuracy"] for run in runs if run.get("baseline_accuracy") is not None}
    if len(baselines) == 1:
        ax.axhline(baselines.pop(), linestyle="--", color="grey", label="untuned")
        ax.legend(loc="lower right")
    ax.set_xscale("log")
    ax.set(
        xlabel="trainable parameters (log scale)", ylabel="test accuracy", title="Accuracy against trainable parameters"
    )
    ax.grid(alpha=0.3, which="both")
    _save(fig, path)
