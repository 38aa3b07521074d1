"""Scoring a classifier on the test split and writing the evaluation outputs.

The baseline and evaluate stages call `evaluate_on_test`, and the classical stage calls
`score_and_write` with its own probabilities, so every model is measured by the same code and
written in the same shape:

- metrics/<name>.json            accuracy, macro/weighted F1, per-class precision/recall/F1
- plots/<name>/confusion.csv     one `actual,predicted` row per test text (DVC's confusion template)
- data/predictions/<name>.csv    text, actual, predicted, confidence and every class probability
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.data import read_prepared
from src.devices import best_device, use_available_cores
from src.inference import predict_proba
from src.metrics import classification_metrics
from src.outputs import atomic_file, write_json
from src.paths import confusion_file, evaluation_metrics_file, predictions_file


def evaluate_on_test(model, tokenizer, label_names: list[str], name: str, batch_size: int, max_length: int) -> dict:
    """Score `model` on data/prepared/test.jsonl, write the outputs of evaluation `name`, return its metrics."""
    test = read_prepared("test")
    use_available_cores()
    probabilities = predict_proba(
        model.to(best_device()),
        tokenizer,
        test["text"].tolist(),
        batch_size=batch_size,
        max_length=max_length,
        desc=f"{name}: test",
    )
    return score_and_write(name, test, probabilities, label_names)


def score_and_write(name: str, test: pd.DataFrame, probabilities: np.ndarray, label_names: list[str]) -> dict:
    """Score one row of class probabilities per test row, write evaluation `name`, return its metrics."""
    metrics = classification_metrics(test["label"].to_numpy(), probabilities.argmax(axis=1), label_names)
    write_evaluation(name, test, probabilities, label_names, metrics)
    return metrics


def predictions_table(test: pd.DataFrame, probabilities: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    names = np.asarray(label_names)
    table = pd.DataFrame(
        {
            "text": test["text"].to_numpy(),
            "actual": names[test["label"].to_numpy()],
            "predicted": names[probabilities.argmax(axis=1)],
            "confidence": probabilities.max(axis=1).round(6),
        }
    )
    for i, label in enumerate(label_names):
        table[f"p_{label}"] = probabilities[:, i].round(6)
    return table


def write_evaluation(name: str, test: pd.DataFrame, probabilities: np.ndarray, label_names: list[str], metrics: dict) -> None:
    table = predictions_table(test, probabilities, label_names)
    with atomic_file(predictions_file(name)) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_file(confusion_file(name)) as tmp:
        table[["actual", "predicted"]].to_csv(tmp, index=False)
    # The metrics file goes last: its presence means the other two are complete.
    write_json(evaluation_metrics_file(name), metrics)
