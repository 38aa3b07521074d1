"""Stage, report: write reports/report.md with its figures in reports/figures/, and the
confidence intervals and paired tests in metrics/significance.json.

Reads the metrics of every earlier stage, the confusion files (one actual/predicted row per test
text, in the same order for every model), the training curves, the label names and the params
of this run (every section but the other methods', shown in the report). Writes markdown that
renders on GitHub, four matplotlib PNGs (the confusion matrices side by side, the training
curves with the epoch kept, per-class F1 and the reliability diagrams) and reports/errors.csv,
every test text the fine-tuned model got wrong, most frequent confusions and surest mistakes first.

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
    calibration_file,
    confusion_file,
    evaluation_metrics_file,
    predictions_file,
)
from src.data.prepared import read_label_names, read_task
from src.presentation.figures import (
    plot_confusion_matrices,
    plot_per_class_f1,
    plot_reliability,
    plot_training_curves,
)
from src.presentation.markdown import render_report
from src.presentation.multilabel import label_errors, render_multilabel_report
from src.scoring.errors import error_table
from src.scoring.tasks import NO_LABEL, TASKS

log = logging.getLogger("report")

FIGURES = {
    "confusion": FIGURES_DIR / "confusion_matrices.png",
    "curves": FIGURES_DIR / "training_curves.png",
    "per_class_f1": FIGURES_DIR / "per_class_f1.png",
    "reliability": FIGURES_DIR / "reliability.png",
}
# Every wrong test prediction of the fine-tuned model, most frequent confusions first.
ERRORS_FILE = REPORT_DIR / "errors.csv"
# The fine-tuned model against each cheaper alternative, on the same test rows.
PAIRS = [("finetuned", "baseline"), ("finetuned", "classical")]


def report() -> None:
    params = Params.load()
    label_names, task = read_label_names(), TASKS[read_task()]
    evaluations = {name: read_json(evaluation_metrics_file(name)) for name in EVALUATIONS}
    # As text: label names such as "0" and "1" must stay names, not become numbers.
    confusions = {name: pd.read_csv(confusion_file(name), keep_default_na=False, dtype=str) for name in EVALUATIONS}
    curves = {name: pd.read_csv(path, sep="\t") for name, path in TRAINING_CURVE_FILES.items() if path.is_file()}
    reliability = {name: pd.read_csv(calibration_file(name)) for name in EVALUATIONS}
    predictions = {
        name: pd.read_csv(
            predictions_file(name), keep_default_na=False, dtype={"text": str, "actual": str, "predicted": str}
        )
        for name in EVALUATIONS
    }
    training = read_json(TRAIN_METRICS_FILE)
    significance = task.compare(predictions, label_names, PAIRS, params.stats)
    if task.thresholded:  # several labels per text: per-label scores, labels missed and added
        errors = label_errors(predictions["finetuned"])
        render, extra = render_multilabel_report, {"predictions": predictions["finetuned"]}
        confusion_labels, per_label = [*label_names, NO_LABEL], "per_label"
    else:
        errors = error_table(predictions["finetuned"])
        render, extra, confusion_labels, per_label = render_report, {}, label_names, "per_class"

    plot_confusion_matrices(confusions, confusion_labels, FIGURES["confusion"])
    plot_training_curves(curves, FIGURES["curves"], kept_step=training["kept"]["step"])
    plot_per_class_f1(evaluations, label_names, FIGURES["per_class_f1"], key=per_label)
    plot_reliability(reliability, FIGURES["reliability"])
    markdown = render(
        params=params.of_this_run(),
        data_summary=read_json(DATA_SUMMARY_FILE),
        evaluations=evaluations,
        significance=significance,
        training=training,
        errors=errors,
        label_names=label_names,
        figures={key: path.relative_to(REPORT_DIR).as_posix() for key, path in FIGURES.items()},
        **extra,
    )
    with atomic_file(ERRORS_FILE) as tmp:
        errors.to_csv(tmp, index=False)
    with atomic_file(REPORT_FILE) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    write_json(SIGNIFICANCE_FILE, significance)
    log.info("wrote %s and %s", REPORT_FILE, SIGNIFICANCE_FILE)
    for pair, test in significance.get("mcnemar", significance.get("paired", {})).items():
        log.info("%s %s: p = %.3g", "McNemar" if "mcnemar" in significance else "paired test", pair, test["p_value"])


def main(argv=None) -> None:
    run_stage(report, __doc__, argv)


if __name__ == "__main__":
    main()
