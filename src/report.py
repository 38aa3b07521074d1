"""Stage, report: write reports/report.md with its figures in reports/figures/, and the
confidence intervals and paired tests in metrics/significance.json.

Reads the metrics of every earlier stage, the confusion files (one actual/predicted row per test
text, in the same order for every model), the training curves and params.yaml (all sections,
shown in the report). Writes markdown that renders on GitHub and three matplotlib PNGs: the
confusion matrices side by side, the training curves and per-class F1.

    python -m src.report         # or: dvc repro report
"""

import logging

import pandas as pd
import yaml

from src.cli import run_stage
from src.data import read_label_names
from src.errors import DataError
from src.outputs import atomic_file, read_json, write_json
from src.params import METHODS, Params
from src.paths import (
    DATA_SUMMARY_FILE,
    EVALUATIONS,
    FIGURES_DIR,
    PARAMS_FILE,
    REPORT_DIR,
    REPORT_FILE,
    SIGNIFICANCE_FILE,
    TRAIN_METRICS_FILE,
    TRAINING_CURVE_FILES,
    confusion_file,
    evaluation_metrics_file,
)
from src.plots import plot_confusion_matrices, plot_per_class_f1, plot_training_curves
from src.reporting import render_report
from src.statistics import compare_models

log = logging.getLogger("report")

FIGURES = {
    "confusion": FIGURES_DIR / "confusion_matrices.png",
    "curves": FIGURES_DIR / "training_curves.png",
    "per_class_f1": FIGURES_DIR / "per_class_f1.png",
}
# The fine-tuned model against each cheaper alternative, on the same test rows.
PAIRS = [("finetuned", "baseline"), ("finetuned", "classical")]


def test_significance(confusions: dict[str, pd.DataFrame], label_names: list[str], params: Params) -> dict:
    ids = {name: i for i, name in enumerate(label_names)}
    actual = confusions["finetuned"]["actual"]
    for name, table in confusions.items():
        if not table["actual"].equals(actual):
            raise DataError(
                f"{confusion_file(name)} lists other test rows than {confusion_file('finetuned')}; "
                "rerun the evaluations on the same prepared data: `dvc repro`."
            )
    return compare_models(
        actual.map(ids).to_numpy(),
        {name: table["predicted"].map(ids).to_numpy() for name, table in confusions.items()},
        PAIRS,
        len(label_names),
        params.stats.bootstrap_resamples,
        params.stats.confidence,
        params.stats.seed,
    )


def params_of_this_run(raw: dict) -> dict:
    """params.yaml without the sections of the methods not chosen: the stage does not depend on
    them, so showing them could show stale values."""
    chosen = raw["peft"]["method"]
    return {key: value for key, value in raw.items() if key not in METHODS or key == chosen}


def report() -> None:
    params = Params.load()
    label_names = read_label_names()
    evaluations = {name: read_json(evaluation_metrics_file(name)) for name in EVALUATIONS}
    confusions = {name: pd.read_csv(confusion_file(name), keep_default_na=False) for name in EVALUATIONS}
    curves = {
        name: pd.read_csv(path, sep="\t") for name, path in TRAINING_CURVE_FILES.items() if path.is_file()
    }
    significance = test_significance(confusions, label_names, params)

    plot_confusion_matrices(confusions, label_names, FIGURES["confusion"])
    plot_training_curves(curves, FIGURES["curves"])
    plot_per_class_f1(evaluations, label_names, FIGURES["per_class_f1"])
    markdown = render_report(
        params=params_of_this_run(yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))),
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
