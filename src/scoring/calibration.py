"""Whether a model's confidence means what it says, and temperature scaling to make it so.

- Expected calibration error (ECE): the test rows binned by the top class's probability into
  `eval.calibration_bins` equal-width bins; the gap between each bin's mean confidence and its
  accuracy, weighted by the bin's share of rows.
- Brier score: the mean squared distance between the probability vector and the one-hot truth,
  summed over classes (0 is perfect, 2 the worst).
- Temperature scaling (Guo et al., 2017): one number T that divides the logits, fitted on the
  validation split by minimising the negative log-likelihood. It changes no prediction, only how
  sure each one is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

# Temperatures searched, as log T: from 1/20 to 20 covers over- and under-confidence alike.
LOG_TEMPERATURE_BOUNDS = (-3.0, 3.0)


def reliability_table(y_true: np.ndarray, probabilities: np.ndarray, bins: int) -> pd.DataFrame:
    """One row per non-empty confidence bin: its bounds, row count, mean confidence and accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    # Right-closed bins, so a confidence of exactly 1.0 falls in the last one.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "bin_low": b / bins,
                    "bin_high": (b + 1) / bins,
                    "rows": int(inside.sum()),
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "rows", "confidence", "accuracy"])


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int) -> float:
    table = reliability_table(y_true, probabilities, bins)
    gaps = (table["confidence"] - table["accuracy"]).abs()
    return float((gaps * table["rows"]).sum() / len(probabilities))


def brier_score(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    one_hot = np.eye(probabilities.shape[1])[np.asarray(y_true)]
    return float(((probabilities - one_hot) ** 2).sum(axis=1).mean())


def calibration_metrics(y_true: np.ndarray, probabilities: np.ndarray, bins: int) -> dict:
    return {
        "ece": round(expected_calibration_error(y_true, probabilities, bins), 6),
        "brier": round(brier_score(y_true, probabilities), 6),
        "bins": bins,
    }


def scaled_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The T > 0 that minimises the negative log-likelihood of `y_true` under softmax(logits / T)."""
    logits, y_true = np.asarray(logits, dtype=np.float64), np.asarray(y_true)

    def nll(log_t: float) -> float:
        scaled = log_softmax(logits / np.exp(log_t), axis=1)
        return float(-scaled[np.arange(len(y_true)), y_true].mean())

    best = minimize_scalar(nll, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(np.exp(best.x))
