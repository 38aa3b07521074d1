"""How sure a score and a gain are: bootstrap confidence intervals and McNemar's paired test.

Both work on the per-row predictions of the test split, so every model is judged on the same
rows, and both are seeded, so a rerun reports the same intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2
from sklearn.metrics import f1_score

from src.core.errors import DataError

# Below this many discordant rows McNemar's chi-square approximation is poor; use the exact test.
EXACT_MCNEMAR_BELOW = 25


def bootstrap_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_labels: int,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals of accuracy and macro-F1, resampling test rows with replacement."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    labels = list(range(n_labels))
    accuracy = np.empty(resamples)
    macro_f1 = np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        accuracy[i] = np.mean(y_true[rows] == y_pred[rows])
        macro_f1[i] = f1_score(y_true[rows], y_pred[rows], labels=labels, average="macro", zero_division=0)
    tail = 100 * (1 - confidence) / 2
    return {
        name: {"low": float(np.percentile(values, tail)), "high": float(np.percentile(values, 100 - tail))}
        for name, values in (("accuracy", accuracy), ("macro_f1", macro_f1))
    }


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, float]:
    """McNemar's test of whether models a and b err at the same rate on the same rows.

    `a_only`: rows only a gets right; `b_only`: rows only b gets right. Exact (binomial) when
    they add up to fewer than EXACT_MCNEMAR_BELOW, else chi-square with continuity correction.
    """
    right_a = np.asarray(pred_a) == np.asarray(y_true)
    right_b = np.asarray(pred_b) == np.asarray(y_true)
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    discordant = a_only + b_only
    if discordant == 0:
        p_value, exact = 1.0, True
    elif discordant < EXACT_MCNEMAR_BELOW:
        p_value, exact = binomtest(a_only, discordant, 0.5).pvalue, True
    else:
        statistic = (abs(a_only - b_only) - 1) ** 2 / discordant
        p_value, exact = chi2.sf(statistic, df=1), False
    return {"a_only_right": a_only, "b_only_right": b_only, "p_value": float(min(p_value, 1.0)), "exact": int(exact)}


def compare_models(
    actual: np.ndarray,
    predicted: dict[str, np.ndarray],
    pairs: list[tuple[str, str]],
    n_labels: int,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict:
    """Intervals for every model and McNemar's test for each (a, b) pair, on the same test rows."""
    return {
        "intervals": {
            name: bootstrap_intervals(actual, labels, n_labels, resamples, confidence, seed)
            for name, labels in predicted.items()
        },
        "mcnemar": {f"{a}_vs_{b}": mcnemar(actual, predicted[a], predicted[b]) for a, b in pairs},
    }


def compare_evaluations(
    confusions: dict[str, pd.DataFrame],
    label_names: list[str],
    pairs: list[tuple[str, str]],
    resamples: int,
    confidence: float,
    seed: int,
) -> dict:
    """`compare_models` on the `actual`/`predicted` tables of several evaluations, which must
    list the same test rows in the same order."""
    ids = {name: i for i, name in enumerate(label_names)}
    first, actual = next(iter(confusions.items()))[0], next(iter(confusions.values()))["actual"]
    for name, table in confusions.items():
        if not table["actual"].equals(actual):
            raise DataError(
                f"The {name} evaluation lists other test rows than the {first} one; rerun the "
                "evaluations on the same prepared data: `dvc repro`."
            )
    return compare_models(
        actual.map(ids).to_numpy(),
        {name: table["predicted"].map(ids).to_numpy() for name, table in confusions.items()},
        pairs,
        len(label_names),
        resamples,
        confidence,
        seed,
    )
