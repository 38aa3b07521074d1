import numpy as np
import pytest
from scipy.stats import binomtest, chi2

from src.scoring.significance import bootstrap_intervals, mcnemar


def noisy_predictions(n=400, accuracy=0.8, n_labels=4, seed=1):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_labels, n)
    y_pred = np.where(rng.random(n) < accuracy, y_true, (y_true + 1) % n_labels)
    return y_true, y_pred


def test_intervals_contain_the_point_estimate_and_narrow_with_more_rows():
    y_true, y_pred = noisy_predictions()
    point = np.mean(y_true == y_pred)
    ci = bootstrap_intervals(y_true, y_pred, 4, resamples=500, confidence=0.95, seed=0)
    assert ci["accuracy"]["low"] < point < ci["accuracy"]["high"]
    assert ci["macro_f1"]["low"] < ci["macro_f1"]["high"]
    # About 1.96 * sqrt(p(1-p)/n) either side for a proportion.
    assert ci["accuracy"]["high"] - ci["accuracy"]["low"] == pytest.approx(
        2 * 1.96 * np.sqrt(point * (1 - point) / 400), rel=0.25
    )
    big_true, big_pred = noisy_predictions(n=4000)
    big = bootstrap_intervals(big_true, big_pred, 4, resamples=500, confidence=0.95, seed=0)
    assert big["accuracy"]["high"] - big["accuracy"]["low"] < ci["accuracy"]["high"] - ci["accuracy"]["low"]


def test_intervals_are_seeded():
    y_true, y_pred = noisy_predictions()
    assert bootstrap_intervals(y_true, y_pred, 4, 200, 0.95, seed=3) == bootstrap_intervals(
        y_true, y_pred, 4, 200, 0.95, seed=3
    )
    assert bootstrap_intervals(y_true, y_pred, 4, 200, 0.95, seed=3) != bootstrap_intervals(
        y_true, y_pred, 4, 200, 0.95, seed=4
    )


def test_mcnemar_identical_predictions_give_p_one():
    y_true, y_pred = noisy_predictions()
    result = mcnemar(y_true, y_pred, y_pred.copy())
    assert result == {"a_only_right": 0, "b_only_right": 0, "p_value": 1.0, "exact": 1}


def test_mcnemar_small_counts_use_the_exact_binomial_test():
    y_true = np.zeros(20, dtype=int)
    pred_a = np.zeros(20, dtype=int)
    pred_b = pred_a.copy()
    pred_b[:7] = 1  # b wrong on 7 rows a gets right
    pred_a[7:9] = 1  # a wrong on 2 rows b gets right
    result = mcnemar(y_true, pred_a, pred_b)
    assert (result["a_only_right"], result["b_only_right"], result["exact"]) == (7, 2, 1)
    assert result["p_value"] == pytest.approx(binomtest(7, 9, 0.5).pvalue)  # 0.1797


def test_mcnemar_large_counts_use_chi_square_and_detect_a_real_gain():
    y_true, better = noisy_predictions(n=2000, accuracy=0.9, seed=2)
    worse = np.where(np.random.default_rng(4).random(2000) < 0.6, y_true, (y_true + 1) % 4)
    result = mcnemar(y_true, better, worse)
    assert result["exact"] == 0 and result["p_value"] < 1e-10
    b, c = result["a_only_right"], result["b_only_right"]
    assert result["p_value"] == pytest.approx(chi2.sf((abs(b - c) - 1) ** 2 / (b + c), df=1))
