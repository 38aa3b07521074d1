"""Multi-label scoring (src/scoring/multilabel.py): metrics against scikit-learn on hand-checked
cases, threshold tuning against brute force, calibration and temperature on synthetic data drawn
from a known model, collapse detection, and the bootstrap and paired test."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from src.scoring.metrics import COLLAPSE_FIX
from src.scoring.multilabel import (
    bootstrap_intervals,
    calibration,
    collapse_check,
    compare,
    decide,
    fit_temperature,
    multilabel_metrics,
    paired_test,
    reliability_table,
    row_f1,
    scaled_probabilities,
    tune_thresholds,
)

# Four rows, three labels; the last row has no label and none is predicted.
Y_TRUE = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
Y_PRED = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]])
PROBABILITIES = np.array([[0.9, 0.45, 0.45], [0.2, 0.7, 0.6], [0.8, 0.4, 0.2], [0.1, 0.1, 0.1]])
NAMES = ["a", "b", "c"]


def noisy_labels(rows=2000, n_labels=6, flip=0.05, seed=0):
    """Random true label sets (about 1.5 labels a row, some rows empty) and a prediction that
    gets each (row, label) cell wrong with probability `flip`."""
    rng = np.random.default_rng(seed)
    y_true = rng.random((rows, n_labels)) < 0.25
    y_pred = y_true ^ (rng.random((rows, n_labels)) < flip)
    return y_true, y_pred


def test_hand_checked_metrics_match_scikit_learn_and_reasoning():
    metrics = multilabel_metrics(Y_TRUE, Y_PRED, PROBABILITIES, NAMES, 0.5)
    # Label a: tp 2, fp 0, fn 0 -> F1 1. Label b: tp 1, fn 1 -> P 1, R 0.5, F1 2/3.
    # Label c: tp 0, fp 1, fn 1 -> F1 0. Macro-F1 = (1 + 2/3 + 0) / 3 = 5/9.
    assert metrics["macro_f1"] == pytest.approx(5 / 9)
    assert metrics["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))
    # Micro: tp 3, fp 1, fn 2 -> 6 / (6 + 3) = 2/3.
    assert metrics["micro_f1"] == pytest.approx(2 / 3)
    # Rows: {a,c} vs {a} 2/3, {b} vs {b,c} 2/3, {a,b} vs {a} 2/3, {} vs {} 1 -> mean 3/4.
    assert metrics["samples_f1"] == pytest.approx(3 / 4)
    # Only the empty row is exactly right; 3 of the 12 cells are wrong.
    assert metrics["subset_accuracy"] == pytest.approx(1 / 4)
    assert metrics["hamming_loss"] == pytest.approx(3 / 12)
    # ROC-AUC: a separates perfectly (1); b's positive 0.4 loses to negative 0.45 (3/4);
    # c's positive 0.45 loses to negative 0.6 (2/3). Mean (1 + 3/4 + 2/3) / 3 = 29/36.
    assert metrics["roc_auc_macro"] == pytest.approx(29 / 36)
    assert metrics["labels_per_row"] == {"actual": pytest.approx(5 / 4), "predicted": pytest.approx(1.0)}
    assert metrics["per_label"]["b"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "threshold": 0.5,
    }


def test_metrics_are_json_ready_python_scalars_without_nan():
    # Label c never occurs: its ROC-AUC is undefined, so it is left out of the macro mean.
    y_true = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    y_pred = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0]])
    metrics = multilabel_metrics(y_true, y_pred, y_pred * 0.8 + 0.1, NAMES, np.array([0.3, 0.5, 0.7]))
    json.dumps(metrics, allow_nan=False)

    def leaves(value):
        if isinstance(value, dict):
            for inner in value.values():
                yield from leaves(inner)
        else:
            yield value

    assert all(type(leaf) in (float, int, type(None)) for leaf in leaves(metrics))
    assert isinstance(metrics["per_label"]["a"]["support"], int)
    assert metrics["per_label"]["c"]["threshold"] == 0.7
    # a: positives 0.9, 0.9 vs negative 0.1 -> 1; b: positives 0.1 and 0.9 vs negative 0.1 -> a tie (1/2)
    # and a win (1), so 3/4; the macro mean is over a and b only.
    assert metrics["roc_auc_macro"] == pytest.approx((1 + 0.75) / 2)
    constant = multilabel_metrics(np.zeros((2, 3)), np.zeros((2, 3)), np.full((2, 3), 0.2), NAMES, 0.5)
    assert constant["roc_auc_macro"] is None


def test_decide_applies_each_label_its_own_threshold_inclusively():
    thresholds = np.array([0.9, 0.45, 0.5])
    assert decide(PROBABILITIES, thresholds).tolist() == [
        [True, True, False],
        [False, True, True],
        [False, False, False],
        [False, False, False],
    ]
    assert decide(PROBABILITIES, 0.5).dtype == bool


def test_tuned_threshold_separates_a_label_whose_positives_all_sit_above_0_3():
    y_true = np.array([[1, 1], [1, 0], [1, 0], [0, 0], [0, 0], [0, 0]])
    probabilities = np.array([[0.35, 0.9], [0.5, 0.2], [0.9, 0.1], [0.1, 0.4], [0.2, 0.3], [0.3, 0.2]])
    thresholds, tuned = tune_thresholds(y_true, probabilities, fallback=0.5, min_positives=2)
    # Label 0: 0.35 is the highest threshold that keeps all three positives (F1 1).
    assert thresholds[0] == 0.35
    assert (decide(probabilities, thresholds)[:, 0] == y_true[:, 0].astype(bool)).all()
    # Label 1 has one positive, below min_positives: it keeps the fallback, untuned.
    assert thresholds[1] == 0.5
    assert tuned.tolist() == [True, False]


def test_among_equal_f1_the_higher_threshold_wins():
    # Two positives. t = 0.9 predicts one row (tp 1): F1 2/3; t = 0.6 predicts all four (tp 2): F1 4/6.
    y_true = np.array([[1], [0], [0], [1]])
    probabilities = np.array([[0.9], [0.8], [0.7], [0.6]])
    thresholds, _ = tune_thresholds(y_true, probabilities, fallback=0.5, min_positives=1)
    assert thresholds[0] == 0.9


def test_tuned_threshold_reaches_the_brute_force_best_f1():
    rng = np.random.default_rng(7)
    y_true = rng.random((300, 5)) < np.array([0.05, 0.1, 0.3, 0.5, 0.02])
    # Noisy scores rounded to 2 decimals, so that many rows tie on a probability.
    probabilities = np.clip(np.round(0.3 * y_true + rng.random((300, 5)) * 0.7, 2), 0, 1)
    thresholds, tuned = tune_thresholds(y_true, probabilities, fallback=0.5, min_positives=1)
    assert tuned.all()
    for label in range(5):
        column, truth = probabilities[:, label], y_true[:, label]
        brute = max(f1_score(truth, column >= t, zero_division=0) for t in np.unique(column))
        assert f1_score(truth, column >= thresholds[label]) == pytest.approx(brute)


def test_mean_row_f1_is_scikit_learn_samples_f1_with_empty_rows_scoring_one():
    y_true, y_pred = noisy_labels(rows=500, flip=0.2)
    assert (~y_true.any(axis=1) & ~y_pred.any(axis=1)).any()  # the convention is exercised
    assert row_f1(y_true, y_pred).mean() == pytest.approx(f1_score(y_true, y_pred, average="samples", zero_division=1))
    assert row_f1(y_true, y_pred).mean() == pytest.approx(
        multilabel_metrics(y_true, y_pred, y_pred, list("abcdef"), 0.5)["samples_f1"]
    )
    # A row with true labels but no prediction (or the reverse) scores 0, not 1.
    assert row_f1(np.array([[1, 0], [0, 0], [0, 0]]), np.array([[0, 0], [1, 0], [0, 0]])).tolist() == [0, 0, 1]


def test_hand_checked_ece_brier_and_pooled_reliability():
    # Label 0: rows at 0.9 (one of two positive) and 0.2 (none): gaps 0.4 and 0.2, each half the
    # rows -> ECE 0.3; Brier (0.01 + 0.81 + 0.04 + 0.04) / 4 = 0.225. Label 1 is sure and right: 0, 0.
    y_true = np.array([[1, 1], [0, 0], [0, 1], [0, 0]])
    probabilities = np.array([[0.9, 1.0], [0.9, 0.0], [0.2, 1.0], [0.2, 0.0]])
    assert calibration(y_true, probabilities, 10) == {"ece": 0.15, "brier": 0.1125, "bins": 10}
    table = reliability_table(y_true, probabilities, bins=10)
    # Right-closed bins: 0.0 in [0, 0.1], 0.2 in (0.1, 0.2], 0.9 in (0.8, 0.9], 1.0 in (0.9, 1].
    assert table["bin_high"].tolist() == pytest.approx([0.1, 0.2, 0.9, 1.0])
    assert table[["rows", "confidence", "accuracy"]].to_dict("records") == [
        {"rows": 2, "confidence": 0.0, "accuracy": 0.0},
        {"rows": 2, "confidence": pytest.approx(0.2), "accuracy": 0.0},
        {"rows": 2, "confidence": pytest.approx(0.9), "accuracy": 0.5},
        {"rows": 2, "confidence": 1.0, "accuracy": 1.0},
    ]


def test_ece_is_small_for_calibrated_probabilities_and_large_for_overconfident_ones():
    rng = np.random.default_rng(3)
    probabilities = rng.random((10_000, 4))
    y_true = rng.random((10_000, 4)) < probabilities  # drawn at exactly the stated probability
    assert calibration(y_true, probabilities, 15)["ece"] < 0.02
    overconfident = np.where(probabilities > 0.5, 0.99, 0.01)
    assert calibration(y_true, overconfident, 15)["ece"] > 0.2


def test_temperature_fit_recovers_logits_made_twice_too_sharp():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=4.0, size=(5000, 4))  # 20,000 (row, label) draws
    true_temperature = 2.0  # the labels follow sigmoid(logits / 2): the logits are 2x too sharp
    y_true = rng.random(logits.shape) < scaled_probabilities(logits, true_temperature)
    fitted = fit_temperature(logits, y_true)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    before = calibration(y_true, scaled_probabilities(logits), 15)["ece"]
    after = calibration(y_true, scaled_probabilities(logits, fitted), 15)["ece"]
    assert after < 0.02 < before


def test_temperature_fit_stays_finite_on_extreme_logits():
    logits = np.array([[1000.0, -1000.0], [-800.0, 800.0], [5.0, -5.0]])
    y_true = np.array([[0, 1], [1, 0], [1, 0]])  # the extreme ones are confidently wrong
    fitted = fit_temperature(logits, y_true)
    assert np.isfinite(fitted) and fitted > 0
    assert scaled_probabilities(logits).dtype == np.float64
    assert np.isfinite(scaled_probabilities(logits)).all()


def test_predicting_nothing_is_flagged_as_collapse():
    y_true, _ = noisy_labels()
    result = collapse_check(y_true, np.zeros_like(y_true), list("abcdef"))
    assert result["collapsed"] and result["no_label_share"] == 1.0
    assert "no label" in result["reason"] and result["fix"] == COLLAPSE_FIX


def test_predicting_every_label_is_flagged_as_collapse():
    y_true, _ = noisy_labels()
    result = collapse_check(y_true, np.ones_like(y_true), list("abcdef"))
    assert result["collapsed"] and result["most_labels_share"] == 1.0
    assert "more than half" in result["reason"] and "every label for every row" in result["reason"]
    # Per label 2 positives / (positives + rows), about 2 * 0.25 / 1.25 = 0.4.
    assert result["trivial_macro_f1"] == pytest.approx(0.4, abs=0.03)


def test_a_good_prediction_is_not_collapse_but_non_finite_outputs_are():
    y_true, y_pred = noisy_labels()
    result = collapse_check(y_true, y_pred, list("abcdef"))
    assert not result["collapsed"] and result["reason"] is None and result["fix"] is None
    assert result["macro_f1"] > result["trivial_macro_f1"] + 0.3
    diverged = collapse_check(y_true, y_pred, list("abcdef"), finite=False)
    assert diverged["collapsed"] and "not finite" in diverged["reason"]


def test_bootstrap_matches_scikit_learn_on_the_same_resampled_rows():
    y_true, y_pred = noisy_labels(rows=200, flip=0.2)
    # One block of 50 resamples: the same draws as rng.integers(0, rows, (50, rows)).
    drawn = np.random.default_rng(5).integers(0, 200, (50, 200))
    macro = [f1_score(y_true[rows], y_pred[rows], average="macro", zero_division=0) for rows in drawn]
    micro = [f1_score(y_true[rows], y_pred[rows], average="micro", zero_division=0) for rows in drawn]
    ci = bootstrap_intervals(y_true, y_pred, resamples=50, confidence=0.9, seed=5)
    assert ci["macro_f1"] == {
        "low": pytest.approx(np.percentile(macro, 5)),
        "high": pytest.approx(np.percentile(macro, 95)),
    }
    assert ci["micro_f1"] == {
        "low": pytest.approx(np.percentile(micro, 5)),
        "high": pytest.approx(np.percentile(micro, 95)),
    }


def test_intervals_contain_the_point_estimate_narrow_with_more_rows_and_are_seeded():
    y_true, y_pred = noisy_labels(rows=400, flip=0.15)
    point = f1_score(y_true, y_pred, average="macro")
    ci = bootstrap_intervals(y_true, y_pred, resamples=500, confidence=0.95, seed=0)
    assert ci["macro_f1"]["low"] < point < ci["macro_f1"]["high"]
    assert ci["micro_f1"]["low"] < f1_score(y_true, y_pred, average="micro") < ci["micro_f1"]["high"]
    big_true, big_pred = noisy_labels(rows=4000, flip=0.15)
    big = bootstrap_intervals(big_true, big_pred, resamples=500, confidence=0.95, seed=0)
    assert big["macro_f1"]["high"] - big["macro_f1"]["low"] < ci["macro_f1"]["high"] - ci["macro_f1"]["low"]
    assert ci == bootstrap_intervals(y_true, y_pred, resamples=500, confidence=0.95, seed=0)
    assert ci != bootstrap_intervals(y_true, y_pred, resamples=500, confidence=0.95, seed=1)


def test_paired_test_gives_a_small_p_for_a_clearly_better_model():
    y_true, better = noisy_labels(rows=1000, flip=0.05, seed=1)
    worse = y_true ^ (np.random.default_rng(2).random(y_true.shape) < 0.25)
    result = paired_test(y_true, better, worse, resamples=1000, seed=0)
    # No sign flip comes near the observed difference: p is the smallest possible, 1 / 1001.
    assert result["p_value"] == pytest.approx(1 / 1001)
    assert result["a_row_f1"] > result["b_row_f1"] and result["difference"] > 0.1
    assert result["a_better_rows"] > result["b_better_rows"]
    assert result["resamples"] == 1000
    difference = result["macro_f1_difference"]
    assert 0 < difference["low"] < difference["estimate"] < difference["high"]
    assert difference["estimate"] == pytest.approx(
        f1_score(y_true, better, average="macro") - f1_score(y_true, worse, average="macro")
    )
    json.dumps(result, allow_nan=False)


def test_paired_test_of_identical_predictions_gives_p_one_and_no_difference():
    y_true, y_pred = noisy_labels(rows=300, flip=0.2)
    result = paired_test(y_true, y_pred, y_pred.copy(), resamples=200, seed=0)
    assert result["p_value"] == 1.0
    assert result["difference"] == 0 and result["a_better_rows"] == result["b_better_rows"] == 0
    assert result["macro_f1_difference"] == {"estimate": 0.0, "low": 0.0, "high": 0.0}


def test_compare_gives_intervals_per_model_and_a_paired_test_per_pair():
    y_true, a = noisy_labels(rows=300, flip=0.05)
    b = y_true ^ (np.random.default_rng(9).random(y_true.shape) < 0.2)
    result = compare(y_true, {"a": a, "b": b}, [("a", "b")], resamples=100, confidence=0.95, seed=0)
    assert set(result["intervals"]) == {"a", "b"} and set(result["paired"]) == {"a_vs_b"}
    assert result["intervals"]["a"] == bootstrap_intervals(y_true, a, 100, 0.95, 0)
    assert result["paired"]["a_vs_b"] == paired_test(y_true, a, b, 100, 0)


def test_scores_that_do_not_rank_the_labels_are_flagged_even_when_decisions_look_fine():
    """A model that learned only the label priors: thresholds tuned on the same rows still give a
    macro-F1 over the trivial one, but its probabilities rank rows no better than chance."""
    y_true, y_pred = noisy_labels(rows=2000)
    rng = np.random.default_rng(3)
    chance = rng.random(y_true.shape)
    flagged = collapse_check(y_true, y_pred, list("abcdef"), probabilities=chance)
    assert flagged["collapsed"] and "(0.5 is chance)" in flagged["reason"]
    assert flagged["roc_auc_macro"] == pytest.approx(0.5, abs=0.03)
    informative = np.clip(0.6 * y_true + 0.4 * rng.random(y_true.shape), 0, 1)
    healthy = collapse_check(y_true, y_pred, list("abcdef"), probabilities=informative)
    assert not healthy["collapsed"] and healthy["roc_auc_macro"] > 0.9
