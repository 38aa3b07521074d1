"""Scoring multi-label classification: each row may carry any number of the labels, none included.

A multi-label model gives one independent probability per (row, label), so everything the
single-label modules do once per row is done here once per label:

- Decisions: a label is predicted when its probability reaches that label's threshold. One fixed
  0.5 suits a common label and starves a rare one, so `tune_thresholds` picks, per label, the
  threshold that maximises its F1 on the validation split; labels with too few positives there to
  tune on keep a fallback.
- Metrics: macro-F1 (each label counts the same, so rare labels matter), micro-F1 (each decision
  counts the same), samples-F1 (each row counts the same), subset accuracy (the whole label set
  right), Hamming loss and macro ROC-AUC, plus per-label precision, recall and F1.
- Calibration: each label's probability is a binary forecast, so ECE and Brier are computed per
  label and averaged; temperature scaling divides the logits by one T under the sigmoid.
- Collapse: the degenerate multi-label answers are "no label for any row" and "(almost) every
  label for every row", and a macro-F1 no better than predicting every label everywhere.
- Significance: bootstrap intervals and a paired test resample rows, with per-label counts kept
  as matrices so 1,000 resamples take seconds rather than 1,000 scikit-learn calls.

Arrays: `y_true` and `y_pred` are (rows, labels) 0/1 or bool; `probabilities` and `logits` are
(rows, labels) floats. Torch-free, like the rest of src/scoring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support, roc_auc_score

from src.scoring.calibration import LOG_TEMPERATURE_BOUNDS
from src.scoring.metrics import COLLAPSE_F1_MARGIN, COLLAPSE_FIX, COLLAPSE_TOP_SHARE

# Rows are resampled in blocks of this many resamples, so the (block, rows) count matrix stays small
# (100 x 5,400 float64 is about 4 MB) whatever `resamples` is.
RESAMPLE_BLOCK = 100


def _as_bool(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels).astype(bool)


def decide(probabilities: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """The (rows, labels) bool decisions: each label predicted where its probability >= its threshold."""
    return np.asarray(probabilities) >= np.asarray(thresholds, dtype=np.float64)


def tune_thresholds(
    y_true: np.ndarray, probabilities: np.ndarray, fallback: float, min_positives: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per label, the threshold that maximises that label's F1 on these rows, and whether it was tuned.

    The candidates are the label's distinct probabilities (with `p >= t` every other threshold
    gives the same decisions as one of them). Among candidates with equal F1 the highest wins:
    it predicts the label for the fewest rows, and it makes the rule deterministic. A label with
    fewer than `min_positives` positive rows (and always one with none, where every threshold
    gives F1 0) gets `fallback` and tuned False: a threshold fitted to a handful of rows is noise.

    One sort per label: walking the probabilities from high to low, the true positives at each
    candidate are a cumulative sum, and F1 = 2 TP / (positives + predicted).
    """
    y_true, probabilities = _as_bool(y_true), np.asarray(probabilities, dtype=np.float64)
    n_labels = y_true.shape[1]
    thresholds = np.full(n_labels, float(fallback))
    tuned = np.zeros(n_labels, dtype=bool)
    for label in range(n_labels):
        positives = int(y_true[:, label].sum())
        if positives < max(min_positives, 1):
            continue
        order = np.argsort(-probabilities[:, label], kind="stable")
        p, truth = probabilities[order, label], y_true[order, label]
        true_positives = np.cumsum(truth)
        # The last index of each run of equal probabilities: predicting down to there is `p >= p[i]`.
        ends = np.flatnonzero(np.append(p[1:] != p[:-1], True))
        f1 = 2 * true_positives[ends] / (positives + ends + 1)
        # argmax takes the first maximum, which in descending order is the highest threshold.
        thresholds[label] = p[ends[np.argmax(f1)]]
        tuned[label] = True
    return thresholds, tuned


def row_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Each row's F1 between its true and predicted label sets, 2|A∩B| / (|A| + |B|).

    A row with no true and no predicted label scores 1.0: it was answered exactly right. This is
    scikit-learn's samples-F1 with zero_division=1, so `row_f1(...).mean()` is `samples_f1`.
    """
    y_true, y_pred = _as_bool(y_true), _as_bool(y_pred)
    overlap = (y_true & y_pred).sum(axis=1)
    sizes = y_true.sum(axis=1) + y_pred.sum(axis=1)
    return np.where(sizes == 0, 1.0, 2 * overlap / np.maximum(sizes, 1))


def _optional_float(value: float) -> float | None:
    """A JSON-ready float: None where the value is undefined (NaN), never a numpy scalar."""
    value = float(value)
    return None if np.isnan(value) else value


def roc_auc_macro(y_true: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Mean ROC-AUC over the labels that have both classes among these rows; None if none does.

    ROC-AUC is undefined for a label no row has (or every row has), so such labels are left out
    rather than failing the whole metric.
    """
    y_true = _as_bool(y_true)
    both = np.flatnonzero(y_true.any(axis=0) & ~y_true.all(axis=0))
    if len(both) == 0:
        return None
    return float(np.mean([roc_auc_score(y_true[:, j], probabilities[:, j]) for j in both]))


def multilabel_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray,
    label_names: list[str],
    thresholds: np.ndarray | float,
) -> dict:
    """The multi-label metrics as nested dicts of Python scalars, ready for metrics/*.json.

    Nested dicts (not lists) so that `dvc metrics diff` and `dvc exp show` get one column each.
    Samples-F1 counts a row with no true and no predicted label as F1 1 (see `row_f1`); every
    other undefined ratio is 0 (zero_division=0), and an undefined ROC-AUC is None, not NaN.
    """
    y_true, y_pred = _as_bool(y_true), _as_bool(y_pred)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(label_names),))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    return {
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=1)),
        "subset_accuracy": float(accuracy_score(y_true, y_pred)),
        "hamming_loss": float(hamming_loss(y_true, y_pred)),
        "roc_auc_macro": roc_auc_macro(y_true, probabilities),
        "labels_per_row": {
            "actual": float(y_true.sum(axis=1).mean()),
            "predicted": float(y_pred.sum(axis=1).mean()),
        },
        "per_label": {
            name: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
                "threshold": _optional_float(t),
            }
            for name, p, r, f, s, t in zip(label_names, precision, recall, f1, support, thresholds, strict=True)
        },
    }


def _bin_index(probabilities: np.ndarray, bins: int) -> np.ndarray:
    # Right-closed bins, like calibration.reliability_table, so a probability of exactly 1.0 falls in
    # the last one and 0.0 in the first.
    return np.clip(np.ceil(probabilities * bins).astype(int) - 1, 0, bins - 1)


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, bins: int) -> float:
    """The mean over labels of each label's binary ECE.

    Within a bin, |mean probability - share of positives| weighted by the bin's share of rows is
    |sum of probabilities - positives| / rows, so one bincount per quantity does every label at once.
    """
    y_true, probabilities = _as_bool(y_true), np.asarray(probabilities, dtype=np.float64)
    rows, n_labels = probabilities.shape
    which = (_bin_index(probabilities, bins) + bins * np.arange(n_labels)).ravel()
    mass = np.bincount(which, weights=probabilities.ravel(), minlength=bins * n_labels)
    hits = np.bincount(which, weights=y_true.ravel().astype(np.float64), minlength=bins * n_labels)
    per_label = np.abs(mass - hits).reshape(n_labels, bins).sum(axis=1) / rows
    return float(per_label.mean())


def brier_score(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """The mean over labels of each label's mean squared error (0 is perfect, 1 the worst)."""
    return float(((np.asarray(probabilities, dtype=np.float64) - _as_bool(y_true)) ** 2).mean())


def calibration(y_true: np.ndarray, probabilities: np.ndarray, bins: int) -> dict:
    """ECE and Brier averaged over labels, rounded like calibration.calibration_metrics."""
    return {
        "ece": round(expected_calibration_error(y_true, probabilities, bins), 6),
        "brier": round(brier_score(y_true, probabilities), 6),
        "bins": bins,
    }


def reliability_table(y_true: np.ndarray, probabilities: np.ndarray, bins: int) -> pd.DataFrame:
    """One row per non-empty bin of every (row, label) probability pooled together.

    Same columns as calibration.reliability_table, so the existing reliability plot draws it:
    `confidence` is the bin's mean probability and `accuracy` its share of positives, and `rows`
    counts (row, label) pairs.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    truth = _as_bool(y_true).ravel()
    which = _bin_index(probabilities, bins)
    rows = np.bincount(which, minlength=bins)
    mass = np.bincount(which, weights=probabilities, minlength=bins)
    hits = np.bincount(which, weights=truth.astype(np.float64), minlength=bins)
    table = [
        {
            "bin_low": b / bins,
            "bin_high": (b + 1) / bins,
            "rows": int(rows[b]),
            "confidence": float(mass[b] / rows[b]),
            "accuracy": float(hits[b] / rows[b]),
        }
        for b in range(bins)
        if rows[b]
    ]
    return pd.DataFrame(table, columns=["bin_low", "bin_high", "rows", "confidence", "accuracy"])


def scaled_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """sigmoid(logits / T) as float64; T > 1 softens over-confident probabilities."""
    return expit(np.asarray(logits, dtype=np.float64) / temperature)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """The T > 0 that minimises the binary cross-entropy of `y_true` under sigmoid(logits / T),
    over every (row, label) pair; searched as log T within calibration.LOG_TEMPERATURE_BOUNDS."""
    logits, y_true = np.asarray(logits, dtype=np.float64), _as_bool(y_true)
    # log sigmoid(z) for positives and log sigmoid(-z) = log(1 - sigmoid(z)) for negatives, in one
    # array: log_expit stays finite where log(expit(z)) would round to log(0).
    signed = np.where(y_true, logits, -logits)

    def bce(log_t: float) -> float:
        return float(-log_expit(signed / np.exp(log_t)).mean())

    best = minimize_scalar(bce, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(np.exp(best.x))


def _macro_f1_of_all_labels(y_true: np.ndarray) -> float:
    """Macro-F1 of the trivial classifier that predicts every label for every row: per label
    2 positives / (positives + rows), 0 for a label no row has (zero_division=0)."""
    positives = y_true.sum(axis=0)
    return float(np.mean(2 * positives / (positives + len(y_true))))


# A validation macro ROC-AUC under this says the scores barely rank rows with a label above rows
# without it (0.5 is chance): on GoEmotions an unweighted loss that learned only the label priors
# scored 0.57, the default 0.91.
COLLAPSE_AUC = 0.6


def collapse_check(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: list[str],
    finite: bool = True,
    probabilities: np.ndarray | None = None,
) -> dict:
    """Whether multi-label predictions are degenerate, with the evidence either way.

    Collapsed when the outputs are not finite (training diverged), when COLLAPSE_TOP_SHARE of the
    rows get no label although far fewer (10 points or more) truly have none, when that share of
    rows get more than half of the labels although far fewer truly do, or when macro-F1 is within
    COLLAPSE_F1_MARGIN of predicting every label for every row, or (given `probabilities`) when
    the macro ROC-AUC is under COLLAPSE_AUC: a model that learned the label priors and nothing
    else, whose thresholds tuned on the same rows can still beat the trivial macro-F1. "More than half", not "every",
    because a model whose sigmoids saturated high can still keep a few labels off with a strongly
    negative bias, and no real row carries most of the labels of a task with many of them.
    """
    y_true, y_pred = _as_bool(y_true), _as_bool(y_pred)
    half = len(label_names) / 2
    no_label_share = float(np.mean(~y_pred.any(axis=1)))
    true_no_label_share = float(np.mean(~y_true.any(axis=1)))
    most_labels_share = float(np.mean(y_pred.sum(axis=1) > half))
    true_most_labels_share = float(np.mean(y_true.sum(axis=1) > half))
    macro_f1 = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    trivial_f1 = _macro_f1_of_all_labels(y_true)
    auc = roc_auc_macro(y_true.astype(int), probabilities) if probabilities is not None and finite else None
    reasons = [] if finite else ["its validation outputs are not finite numbers (NaN or infinity): training diverged"]
    if auc is not None and auc < COLLAPSE_AUC:
        reasons.append(
            f"its validation macro ROC-AUC is {auc:.3f} (0.5 is chance): its scores barely rank rows that have a "
            "label above rows that do not"
        )
    if no_label_share >= COLLAPSE_TOP_SHARE and no_label_share - true_no_label_share >= 0.1:
        reasons.append(
            f"it predicts no label for {no_label_share:.0%} of the validation rows, "
            f"of which {true_no_label_share:.0%} truly have none"
        )
    if most_labels_share >= COLLAPSE_TOP_SHARE and most_labels_share - true_most_labels_share >= 0.1:
        reasons.append(
            f"it predicts more than half of the {len(label_names)} labels for {most_labels_share:.0%} of "
            f"the validation rows, of which {true_most_labels_share:.0%} truly have that many"
        )
    if macro_f1 <= trivial_f1 + COLLAPSE_F1_MARGIN:
        reasons.append(
            f"its validation macro-F1 {macro_f1:.4f} is no better than predicting every label "
            f"for every row ({trivial_f1:.4f})"
        )
    return {
        "collapsed": bool(reasons),
        "reason": "; ".join(reasons) or None,
        "fix": COLLAPSE_FIX if reasons else None,
        "no_label_share": round(no_label_share, 4),
        "most_labels_share": round(most_labels_share, 4),
        "macro_f1": round(macro_f1, 4),
        "trivial_macro_f1": round(trivial_f1, 4),
        "roc_auc_macro": None if auc is None else round(auc, 4),
    }


def _resample_counts(rng: np.random.Generator, rows: int, resamples: int):
    """Yields (block, rows) matrices: how often each row was drawn in each resample of the block.

    Drawing `rows` indices with replacement and counting them is the same resample as indexing,
    and turns every per-label count into one matrix product.
    """
    for start in range(0, resamples, RESAMPLE_BLOCK):
        block = min(RESAMPLE_BLOCK, resamples - start)
        drawn = rng.integers(0, rows, (block, rows)) + rows * np.arange(block)[:, None]
        yield np.bincount(drawn.ravel(), minlength=block * rows).reshape(block, rows).astype(np.float64)


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Macro- and micro-F1 of each resample from its (resamples, labels) counts, zero_division=0."""
    denominator = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    total = denominator.sum(axis=1)
    micro = np.divide(2 * tp.sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
    return per_label.mean(axis=1), micro


def _confusion_columns(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, labels) 0/1 float indicators of true positives, false positives and false negatives."""
    y_true, y_pred = _as_bool(y_true), _as_bool(y_pred)
    return tuple(m.astype(np.float64) for m in (y_true & y_pred, ~y_true & y_pred, y_true & ~y_pred))


def _interval(values: np.ndarray, confidence: float) -> dict[str, float]:
    tail = 100 * (1 - confidence) / 2
    return {"low": float(np.percentile(values, tail)), "high": float(np.percentile(values, 100 - tail))}


def bootstrap_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, resamples: int, confidence: float, seed: int
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals of macro- and micro-F1, resampling rows with replacement."""
    tp, fp, fn = _confusion_columns(y_true, y_pred)
    rng = np.random.default_rng(seed)
    macro, micro = [], []
    for counts in _resample_counts(rng, len(tp), resamples):
        block_macro, block_micro = _f1_from_counts(counts @ tp, counts @ fp, counts @ fn)
        macro.append(block_macro)
        micro.append(block_micro)
    return {
        "macro_f1": _interval(np.concatenate(macro), confidence),
        "micro_f1": _interval(np.concatenate(micro), confidence),
    }


def paired_test(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, resamples: int, seed: int) -> dict:
    """Whether model a beats model b on the same rows, two ways.

    - A paired sign-flip permutation test of per-row F1: under "a and b are exchangeable" each
      row's difference is as likely negated, so the observed mean difference is compared with the
      means of `resamples` random sign flips, two-sided; p = (1 + as extreme) / (1 + resamples),
      so it is never 0 and identical predictions give exactly 1.
    - A paired 95% bootstrap interval of the macro-F1 difference a - b: each resample scores both
      models on the same drawn rows, so the rows' own difficulty cancels out.
    """
    rng = np.random.default_rng(seed)
    a_rows, b_rows = row_f1(y_true, pred_a), row_f1(y_true, pred_b)
    difference = a_rows - b_rows
    observed = abs(difference.mean())
    # A hair of tolerance, so a permutation equal to the observed mean up to rounding counts as extreme.
    tolerance = 1e-12
    extreme = 0
    for start in range(0, resamples, RESAMPLE_BLOCK):
        block = min(RESAMPLE_BLOCK, resamples - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(block, len(difference)))
        extreme += int(np.sum(np.abs(signs @ difference / len(difference)) >= observed - tolerance))

    a_columns, b_columns = _confusion_columns(y_true, pred_a), _confusion_columns(y_true, pred_b)
    differences = []
    for counts in _resample_counts(rng, len(difference), resamples):
        a_macro, _ = _f1_from_counts(*(counts @ column for column in a_columns))
        b_macro, _ = _f1_from_counts(*(counts @ column for column in b_columns))
        differences.append(a_macro - b_macro)
    estimate = float(
        f1_score(_as_bool(y_true), _as_bool(pred_a), average="macro", zero_division=0)
        - f1_score(_as_bool(y_true), _as_bool(pred_b), average="macro", zero_division=0)
    )
    return {
        "a_row_f1": float(a_rows.mean()),
        "b_row_f1": float(b_rows.mean()),
        "difference": float(difference.mean()),
        "a_better_rows": int(np.sum(difference > 0)),
        "b_better_rows": int(np.sum(difference < 0)),
        "p_value": float(min((1 + extreme) / (1 + resamples), 1.0)),
        "resamples": int(resamples),
        "macro_f1_difference": {"estimate": estimate, **_interval(np.concatenate(differences), 0.95)},
    }


def compare(
    actual: np.ndarray,
    predicted: dict[str, np.ndarray],
    pairs: list[tuple[str, str]],
    resamples: int,
    confidence: float,
    seed: int,
) -> dict:
    """Intervals for every model and the paired test for each (a, b) pair, on the same test rows."""
    return {
        "intervals": {
            name: bootstrap_intervals(actual, labels, resamples, confidence, seed) for name, labels in predicted.items()
        },
        "paired": {f"{a}_vs_{b}": paired_test(actual, predicted[a], predicted[b], resamples, seed) for a, b in pairs},
    }
