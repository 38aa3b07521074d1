"""Stage, report: write reports/report.md with its figures in reports/figures/, and the
confidence intervals and paired tests in metrics/significance.json.

Reads the metrics of every earlier stage, the confusion files (one actual/predicted row per test
text, in the same order for every model), the training curves, the label names and the params
of this run (every section but the other methods', shown in the report). Writes markdown that
renders on GitHub and three matplotlib PNGs: the confusion matrices side by side, the training
curves and per-class F1.

    python -m src.report         # or: dvc repro report
"""

import logging

import pandas as pd

from src.core.cli import run_stage
from src.core.files import atomic_file, read_json, write_json
from src.core.params import Params
from src.core.paths import (
    DATA_SUMMARY_FILE,
    EVALUATIONS,
    FIGURES_DIR,
    REPORT_DIR,
    REPORT_FILE,
    SIGNIFICANCE_FILE,
    TRAIN_METRICS_FILE,
    TRAINING_CURVE_FILES,
    confusion_file,
    evaluation_metrics_file,
)
from src.data.prepared import read_label_names
from src.presentation.figures import plot_confusion_matrices, plot_per_class_f1, plot_training_curves
from src.presentation.markdown import render_report
from src.scoring.significance import compare_evaluations

log = logging.getLogger("report")

FIGURES = {
    "confusion": FIGURES_DIR / "confusion_matrices.png",
    "curves": FIGURES_DIR / "training_curves.png",
    "per_class_f1": FIGURES_DIR / "per_class_f1.png",
}
# The fine-tuned model against each cheaper alternative, on the same test rows.
PAIRS = [("finetuned", "baseline"), ("finetuned", "classical")]


def report() -> None:
    params = Params.load()
    label_names = read_label_names()
    evaluations = {name: read_json(evaluation_metrics_file(name)) for name in EVALUATIONS}
    # As text: label names such as "0" and "1" must stay names, not become numbers.
    confusions = {name: pd.read_csv(confusion_file(name), keep_default_na=False, dtype=str) for name in EVALUATIONS}
    curves = {name: pd.read_csv(path, sep="\t") for name, path in TRAINING_CURVE_FILES.items() if path.is_file()}
    stats = params.stats
    significance = compare_evaluations(
        confusions, label_names, PAIRS, stats.bootstrap_resamples, stats.confidence, stats.seed
    )

    plot_confusion_matrices(confusions, label_names, FIGURES["confusion"])
    plot_training_curves(curves, FIGURES["curves"])
    plot_per_class_f1(evaluations, label_names, FIGURES["per_class_f1"])
    markdown = render_report(
        params=params.of_this_run(),
        data_summary=read_json(DATA_SUMMARY_FILE),
        evaluations=evaluations,
        significance=significance,
        training=read_json(TRAIN_METRICS_FILE),
        label_names=label_names,
        figures={key: path.relative_to(REPORT_DIR).as_posix() for key, path in FIGURES.items()},
    )
    with atomic_file(REPORT_FILE) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    write_json(SIGNIFICANCE_FILE, significance)
    log.info("wrote %s and %s", REPORT_FILE, SIGNIFICANCE_FILE)
    for pair, test in significance["mcnemar"].items():
        log.info("McNemar %s: p = %.3g", pair, test["p_value"])


def main(argv=None) -> None:
    run_stage(report, __doc__, argv)


if __name__ == "__main__":
    main()
