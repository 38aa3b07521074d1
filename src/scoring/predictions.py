"""The outputs of one evaluation of the test split, the same for every model.

The baseline, classical and evaluate stages each turn their model's probabilities into:

- metrics/<name>.json            the task's scores (src/scoring/tasks.py): accuracy, macro/weighted F1 and
                                 per class; or for multi-label data macro/micro/samples-F1, subset accuracy,
                                 Hamming loss, ROC-AUC and per label
- plots/<name>/confusion.csv     `actual,predicted` rows for DVC's confusion template: one per test text, or
                                 for multi-label data one per label a text has or is given
- plots/<name>/calibration.csv   the reliability diagram: observed share against predicted probability per bin
- data/predictions/<name>.csv    text, actual, predicted (a JSON list of names for multi-label data), and every
                                 label's probability
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.core.files import atomic_file, write_json
from src.core.paths import calibration_file, confusion_file, evaluation_metrics_file, predictions_file
from src.scoring.tasks import TASKS, Evaluation


def evaluate_probabilities(
    test: pd.DataFrame,
    probabilities: np.ndarray,
    label_names: list[str],
    bins: int,
    unscaled: np.ndarray | None = None,
    temperature: float | None = None,
    task: str = "single_label",
    thresholds: list[float] | None = None,
) -> Evaluation:
    """Score one row of probabilities per row of `test` (columns `text`, `label`) as `task` does,
    deciding multi-label rows with `thresholds` (one per label).

    For a model calibrated by temperature scaling, `probabilities` are the scaled ones and
    `unscaled` the raw ones, so the metrics show the calibration before and after."""
    kind = TASKS[task]
    evaluation = kind.evaluate(test, probabilities, label_names, bins, thresholds)
    if unscaled is not None:
        before = kind.evaluate(test, unscaled, label_names, bins, thresholds).metrics["calibration"]
        evaluation.metrics["calibration"].update(
            temperature=round(temperature, 4), ece_unscaled=before["ece"], brier_unscaled=before["brier"]
        )
    return evaluation


def write_evaluation(name: str, evaluation: Evaluation) -> None:
    """Write the outputs of evaluation `name` (baseline, classical or finetuned)."""
    with atomic_file(predictions_file(name)) as tmp:
        evaluation.predictions.to_csv(tmp, index=False)
    with atomic_file(confusion_file(name)) as tmp:
        evaluation.confusion.to_csv(tmp, index=False)
    with atomic_file(calibration_file(name)) as tmp:
        evaluation.reliability.round(6).to_csv(tmp, index=False)
    # The metrics file goes last: its presence means the other two are complete.
    write_json(evaluation_metrics_file(name), evaluation.metrics)
