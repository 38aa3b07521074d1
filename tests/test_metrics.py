import numpy as np
import pytest
from transformers import EvalPrediction

from src.scoring.metrics import classification_metrics, collapse_check, trainer_metrics

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


# --------------------------------------------------------------------------- collapse


def test_constant_predictions_are_a_collapse():
    y_true = [0] * 87 + [1] * 13  # the SMS spam set's shares
    check = collapse_check(y_true, [0] * 100, ["ham", "spam"])
    assert check["collapsed"] and check["top_class"] == "ham" and check["top_class_share"] == 1.0
    assert "predicts 'ham' for 100% of the validation rows, which hold 87%" in check["reason"]
    assert check["majority_class_macro_f1"] == pytest.approx(0.4652, abs=1e-4)
    assert "learning_rate" in check["fix"]


def test_macro_f1_at_the_prior_is_a_collapse_even_with_two_classes_predicted():
    # Six classes, most rows called "a", a few others spread at random: no better than the prior.
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 6, 600)
    y_pred = np.where(rng.random(600) < 0.9, 0, rng.integers(0, 6, 600))
    check = collapse_check(y_true, y_pred, list("abcdef"))
    assert check["collapsed"] and "no better than always predicting" in check["reason"]


def test_a_good_classifier_on_skewed_data_is_not_a_collapse():
    # 96% of the rows are "a" and the model says "a" for 96%: right, not degenerate.
    y_true = [0] * 96 + [1] * 4
    y_pred = [0] * 95 + [1] + [1] * 3 + [0]
    check = collapse_check(y_true, y_pred, ["a", "b"])
    assert not check["collapsed"] and check["reason"] is None and check["fix"] is None


def test_outputs_that_are_not_numbers_are_a_collapse_whatever_the_classes():
    # Diverged weights give NaN logits; argmax of NaN is class 0, which here looks like a fair mix.
    y_true = [0, 1] * 50
    check = collapse_check(y_true, y_true, ["a", "b"], finite=False)
    assert check["collapsed"] and "not finite numbers" in check["reason"]
    assert not collapse_check(y_true, y_true, ["a", "b"])["collapsed"]
