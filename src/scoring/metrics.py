"""Classification metrics, computed with scikit-learn.

`evaluate.load("accuracy")` fetches its metric code from the Hugging Face Hub at run time and
fails offline, so the pipeline uses scikit-learn's implementations instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: list[str]) -> dict:
    """Accuracy, macro-F1, weighted-F1 and per-class precision/recall/F1 as nested scalars.

    Nested dicts (not lists) so that `dvc metrics diff` and `dvc exp show` get one column each.
    """
    labels = list(range(len(label_names)))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f)}
            for name, p, r, f in zip(label_names, precision, recall, f1, strict=True)
        },
    }


def trainer_metrics(eval_prediction) -> dict[str, float]:
    """`compute_metrics` for the Trainer's per-epoch validation: accuracy and macro-F1."""
    logits, y_true = eval_prediction.predictions, eval_prediction.label_ids
    y_pred = np.asarray(logits).argmax(axis=-1)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
