"""The outputs of one evaluation of the test split, the same for every model.

The baseline, classical and evaluate stages each turn their model's class probabilities into:

- metrics/<name>.json            accuracy, macro/weighted F1, per-class precision/recall/F1
- plots/<name>/confusion.csv     one `actual,predicted` row per test text (DVC's confusion template)
- plots/<name>/calibration.csv   the reliability diagram: accuracy against confidence per bin
- data/predictions/<name>.csv    text, actual, predicted, confidence and every class probability
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.core.files import atomic_file, write_json
from src.core.paths import calibration_file, confusion_file, evaluation_metrics_file, predictions_file
from src.scoring.calibration import calibration_metrics, reliability_table
from src.scoring.metrics import classification_metrics


@dataclass
class Evaluation:
    metrics: dict
    predictions: pd.DataFrame  # one row per test row: text, actual, predicted, confidence, p_<label>...
    reliability: pd.DataFrame  # one row per confidence bin (src/scoring/calibration.py)


def evaluate_probabilities(
    test: pd.DataFrame,
    probabilities: np.ndarray,
    label_names: list[str],
    bins: int,
    unscaled: np.ndarray | None = None,
    temperature: float | None = None,
) -> Evaluation:
    """Score one row of class probabilities per row of `test` (columns `text`, `label`).

    For a model calibrated by temperature scaling, `probabilities` are the scaled ones and
    `unscaled` the raw softmax, so the metrics show the calibration before and after."""
    y_true = test["label"].to_numpy()
    metrics = classification_metrics(y_true, probabilities.argmax(axis=1), label_names)
    metrics["calibration"] = calibration_metrics(y_true, probabilities, bins)
    if unscaled is not None:
        before = calibration_metrics(y_true, unscaled, bins)
        metrics["calibration"].update(
            temperature=round(temperature, 4), ece_unscaled=before["ece"], brier_unscaled=before["brier"]
        )
    reliability = reliability_table(y_true, probabilities, bins)
    return Evaluation(metrics, predictions_table(test, probabilities, label_names), reliability)


def predictions_table(test: pd.DataFrame, probabilities: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    names = np.asarray(label_names)
    texts = {column: test[column].to_numpy() for column in ("text", "text_pair") if column in test.columns}
    table = pd.DataFrame(
        {
            **texts,
            "actual": names[test["label"].to_numpy()],
            "predicted": names[probabilities.argmax(axis=1)],
            "confidence": probabilities.max(axis=1).round(6),
        }
    )
    for i, label in enumerate(label_names):
        table[f"p_{label}"] = probabilities[:, i].round(6)
    return table


def write_evaluation(name: str, evaluation: Evaluation) -> None:
    """Write the outputs of evaluation `name` (baseline, classical or finetuned)."""
    with atomic_file(predictions_file(name)) as tmp:
        evaluation.predictions.to_csv(tmp, index=False)
    with atomic_file(confusion_file(name)) as tmp:
        evaluation.predictions[["actual", "predicted"]].to_csv(tmp, index=False)
    with atomic_file(calibration_file(name)) as tmp:
        evaluation.reliability.round(6).to_csv(tmp, index=False)
    # The metrics file goes last: its presence means the other two are complete.
    write_json(evaluation_metrics_file(name), evaluation.metrics)
