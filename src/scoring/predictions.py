"""The outputs of one evaluation of the test split, the same for every model.

The baseline, classical and evaluate stages each turn their model's class probabilities into:

- metrics/<name>.json            accuracy, macro/weighted F1, per-class precision/recall/F1
- plots/<name>/confusion.csv     one `actual,predicted` row per test text (DVC's confusion template)
- data/predictions/<name>.csv    text, actual, predicted, confidence and every class probability
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.core.files import atomic_file, write_json
from src.core.paths import confusion_file, evaluation_metrics_file, predictions_file
from src.scoring.metrics import classification_metrics


@dataclass
class Evaluation:
    metrics: dict
    predictions: pd.DataFrame  # one row per test row: text, actual, predicted, confidence, p_<label>...


def evaluate_probabilities(test: pd.DataFrame, probabilities: np.ndarray, label_names: list[str]) -> Evaluation:
    """Score one row of class probabilities per row of `test` (columns `text`, `label`)."""
    metrics = classification_metrics(test["label"].to_numpy(), probabilities.argmax(axis=1), label_names)
    return Evaluation(metrics, predictions_table(test, probabilities, label_names))


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
    """Write the three outputs of evaluation `name` (baseline, classical or finetuned)."""
    with atomic_file(predictions_file(name)) as tmp:
        evaluation.predictions.to_csv(tmp, index=False)
    with atomic_file(confusion_file(name)) as tmp:
        evaluation.predictions[["actual", "predicted"]].to_csv(tmp, index=False)
    # The metrics file goes last: its presence means the other two are complete.
    write_json(evaluation_metrics_file(name), evaluation.metrics)
