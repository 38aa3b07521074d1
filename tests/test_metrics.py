import numpy as np
import pytest
from transformers import EvalPrediction

from src.scoring.metrics import classification_metrics, trainer_metrics

NAMES = ["neg", "pos", "neutral"]


def test_hand_checked_example():
    # neg: 2 true, predicted [neg, pos]; pos: 2 true, both right; neutral: never true, never predicted.
    y_true = [0, 0, 1, 1]
    y_pred = [0, 1, 1, 1]
    metrics = classification_metrics(y_true, y_pred, NAMES)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["per_class"]["neg"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3})
    assert metrics["per_class"]["pos"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8})
    assert metrics["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    # Macro averages all three named classes, so a class absent from the test set counts as 0.
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert metrics["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 * 0.8) / 4)


def test_metrics_are_plain_nested_scalars():
    metrics = classification_metrics(np.array([0, 1, 2]), np.array([0, 1, 2]), NAMES)
    assert metrics["accuracy"] == metrics["macro_f1"] == 1.0

    def leaves(node):
        for value in node.values():
            yield from leaves(value) if isinstance(value, dict) else [value]

    assert all(type(value) is float for value in leaves(metrics))


def test_trainer_metrics_take_argmax_of_logits():
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 0.1], [0.0, 3.0, 0.1]])
    scores = trainer_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 2])))
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert set(scores) == {"accuracy", "macro_f1"}
