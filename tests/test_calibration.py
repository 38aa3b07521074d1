"""Calibration metrics and temperature scaling (src/scoring/calibration.py), on hand-checked
cases and on logits drawn from a known temperature."""

import numpy as np
import pytest

from src.scoring.calibration import (
    brier_score,
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
    scaled_probabilities,
)


def test_hand_checked_ece_brier_and_bins():
    # Two rows at confidence 0.9 (one right), two at 0.6 (both right); 10 bins.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y_true = np.array([0, 1, 1, 1])
    table = reliability_table(y_true, probabilities, bins=10)
    assert table[["rows", "confidence", "accuracy"]].to_dict("records") == [
        {"rows": 2, "confidence": pytest.approx(0.6), "accuracy": 1.0},
        {"rows": 2, "confidence": pytest.approx(0.9), "accuracy": 0.5},
    ]
    # Right-closed bins: 0.6 falls in (0.5, 0.6], 0.9 in (0.8, 0.9]; gaps 0.4 and 0.4, each half the rows.
    assert table["bin_high"].tolist() == pytest.approx([0.6, 0.9])
    assert expected_calibration_error(y_true, probabilities, bins=10) == pytest.approx(0.4)
    # Brier: (0.1² + 0.1²), (0.9² + 0.9²), (0.4² + 0.4²) twice, averaged.
    assert brier_score(y_true, probabilities) == pytest.approx((0.02 + 1.62 + 0.32 + 0.32) / 4)
    assert calibration_metrics(y_true, probabilities, 10)["bins"] == 10


def test_a_sure_and_right_model_is_perfectly_calibrated():
    probabilities = np.eye(3)[[0, 1, 2, 1]]
    y_true = np.array([0, 1, 2, 1])
    assert expected_calibration_error(y_true, probabilities, 15) == 0
    assert brier_score(y_true, probabilities) == 0


def test_temperature_fit_recovers_the_temperature_the_labels_were_drawn_at():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=4.0, size=(20_000, 4))
    true_temperature = 2.5  # the model is over-confident: its logits are 2.5x too large
    y_true = np.array([rng.choice(4, p=p) for p in scaled_probabilities(logits, true_temperature)])
    fitted = fit_temperature(logits, y_true)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    before = expected_calibration_error(y_true, scaled_probabilities(logits), 15)
    after = expected_calibration_error(y_true, scaled_probabilities(logits, fitted), 15)
    assert after < 0.02 < before


def test_scaling_changes_no_prediction():
    logits = np.random.default_rng(1).normal(size=(50, 5))
    assert (scaled_probabilities(logits, 3.0).argmax(1) == logits.argmax(1)).all()
    assert scaled_probabilities(logits, 3.0).sum(1) == pytest.approx(np.ones(50))
