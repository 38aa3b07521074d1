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


# A classifier is called collapsed when its macro-F1 is within this much of always predicting the
# majority class, or when it gives one class to this share of the rows although far fewer have it.
COLLAPSE_F1_MARGIN = 0.02
COLLAPSE_TOP_SHARE = 0.95
COLLAPSE_FIX = (
    "lower the method's learning_rate (e.g. halve it), or train for more steps "
    "(train.min_steps, train.epochs, or more rows in data.sample_size.train)"
)


def collapse_check(y_true: Sequence[int], y_pred: Sequence[int], label_names: list[str], finite: bool = True) -> dict:
    """Whether predictions are degenerate: (almost) one class for every row, a macro-F1 no
    better than the class prior's, or outputs that are not numbers (`finite` False: the weights
    diverged to NaN or infinity). Returns the evidence either way, for metrics/train.json."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(label_names)))
    majority = int(np.bincount(y_true, minlength=len(labels)).argmax())
    macro_f1 = float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    prior_f1 = float(f1_score(y_true, np.full_like(y_true, majority), labels=labels, average="macro", zero_division=0))
    top = int(np.bincount(y_pred, minlength=len(labels)).argmax())
    top_share = float(np.mean(y_pred == top))
    top_true_share = float(np.mean(y_true == top))
    reasons = [] if finite else ["its validation outputs are not finite numbers (NaN or infinity): training diverged"]
    if top_share >= COLLAPSE_TOP_SHARE and top_share - top_true_share >= 0.1:
        reasons.append(
            f"it predicts {label_names[top]!r} for {top_share:.0%} of the validation rows, "
            f"which hold {top_true_share:.0%} of that class"
        )
    if macro_f1 <= prior_f1 + COLLAPSE_F1_MARGIN:
        reasons.append(
            f"its validation macro-F1 {macro_f1:.4f} is no better than always predicting "
            f"{label_names[majority]!r} ({prior_f1:.4f})"
        )
    return {
        "collapsed": bool(reasons),
        "reason": "; ".join(reasons) or None,
        "fix": COLLAPSE_FIX if reasons else None,
        "top_class": label_names[top],
        "top_class_share": round(top_share, 4),
        "majority_class_macro_f1": round(prior_f1, 4),
    }
