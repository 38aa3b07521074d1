"""Stage 5, report: write reports/report.md with its figures in reports/figures/.

Reads the metrics of every earlier stage, the confusion files, the training curves and
params.yaml (all sections, shown in the report). Writes markdown that renders on GitHub and
three matplotlib PNGs: the confusion matrices side by side, the training curves and per-class F1.

    python -m src.report         # or: dvc repro report
"""

import logging

import pandas as pd
import yaml

from src.cli import run_stage
from src.data import read_label_names
from src.outputs import atomic_file, read_json
from src.paths import (
    DATA_SUMMARY_FILE,
    EVALUATIONS,
    FIGURES_DIR,
    PARAMS_FILE,
    REPORT_DIR,
    REPORT_FILE,
    TRAIN_METRICS_FILE,
    TRAINING_CURVE_FILES,
    confusion_file,
    evaluation_metrics_file,
)
from src.plots import plot_confusion_matrices, plot_per_class_f1, plot_training_curves
from src.reporting import render_report

log = logging.getLogger("report")

FIGURES = {
    "confusion": FIGURES_DIR / "confusion_matrices.png",
    "curves": FIGURES_DIR / "training_curves.png",
    "per_class_f1": FIGURES_DIR / "per_class_f1.png",
}


def report() -> None:
    label_names = read_label_names()
    evaluations = {name: read_json(evaluation_metrics_file(name)) for name in EVALUATIONS}
    curves = {
        name: pd.read_csv(path, sep="\t") for name, path in TRAINING_CURVE_FILES.items() if path.is_file()
    }
    plot_confusion_matrices(
        {name: pd.read_csv(confusion_file(name)) for name in EVALUATIONS}, label_names, FIGURES["confusion"]
    )
    plot_training_curves(curves, FIGURES["curves"])
    plot_per_class_f1(evaluations, label_names, FIGURES["per_class_f1"])

    markdown = render_report(
        params=yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8")),
        data_summary=read_json(DATA_SUMMARY_FILE),
        baseline=evaluations["baseline"],
        finetuned=evaluations["finetuned"],
        training=read_json(TRAIN_METRICS_FILE),
        label_names=label_names,
        figures={key: path.relative_to(REPORT_DIR).as_posix() for key, path in FIGURES.items()},
    )
    with atomic_file(REPORT_FILE) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    log.info("wrote %s", REPORT_FILE)


def main(argv=None) -> None:
    run_stage(report, __doc__, argv)


if __name__ == "__main__":
    main()
