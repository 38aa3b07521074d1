"""THE TASK REGISTRY: what differs between one label per text and several, in one place.

A `Task` says, for its kind of classification, how a prepared label is held (an id, or a list of
ids), what the model's head computes and is trained with (transformers' `problem_type`: softmax
and cross-entropy, or a sigmoid per label and binary cross-entropy), how probabilities become
decisions (the most probable class, or every label whose probability reaches its threshold, tuned
on validation), and how one evaluation is scored and compared. The stages ask the task named in
data/prepared/labels.json (written by prepare: `data.task`, or found in the data) and do not
branch on the kind themselves.

Imports no torch: the torch-free stages (classical, report) use it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from src.core.errors import DataError
from src.data.prepared import MULTI_LABEL, SINGLE_LABEL
from src.scoring import calibration, multilabel, significance
from src.scoring.metrics import classification_metrics
from src.scoring.metrics import collapse_check as single_label_collapse

METRIC_TITLES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "micro_f1": "micro-F1"}
# In a multi-label confusion file, the side of a missed or added label that has none.
NO_LABEL = "(none)"


@dataclass
class Evaluation:
    """One model's test scores, in the files every evaluation writes (src/scoring/predictions.py)."""

    metrics: dict
    predictions: pd.DataFrame  # one row per test row: text, actual, predicted, (confidence), p_<label>...
    reliability: pd.DataFrame  # one row per probability bin (src/scoring/calibration.py)
    confusion: pd.DataFrame  # `actual,predicted` rows for DVC's confusion template


class Task:
    name: str  # data.task's value, and labels.json's "task"
    title: str
    problem_type: str  # transformers' config.problem_type: which loss the head is trained with
    function_to_apply: str  # what transformers.pipeline applies to the logits
    headline: tuple[str, str]  # the two scores the logs, the report and compare lead with
    thresholded: bool  # decisions need thresholds tuned on validation (src/baseline.py, src/classical.py, train)

    def headline_text(self, metrics: dict) -> str:
        """The two headline scores in words, for the logs: `accuracy 0.9210, macro-F1 0.8869`."""
        return ", ".join(f"{METRIC_TITLES[key]} {metrics[key]:.4f}" for key in self.headline)

    def targets(self, labels: pd.Series, n_labels: int) -> np.ndarray:
        """The true labels of prepared rows, as the scoring functions take them."""
        raise NotImplementedError

    def training_labels(self, labels: pd.Series, n_labels: int) -> list:
        """The prepared labels as the model's loss takes them."""
        raise NotImplementedError

    def probabilities(self, logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        raise NotImplementedError

    def fit_temperature(self, logits: np.ndarray, y_true: np.ndarray) -> float:
        raise NotImplementedError

    def tune_thresholds(self, y_true: np.ndarray, probabilities: np.ndarray, settings) -> list[float] | None:
        """Per-label thresholds fitted on validation (`eval.thresholds`), or None where the task has none."""
        return None

    def decide(self, probabilities: np.ndarray, thresholds: list[float] | None = None) -> np.ndarray:
        raise NotImplementedError

    def validation_scores(self, logits: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
        """The Trainer's per-epoch scores: `accuracy` and `macro_f1` (the keys train.early_stopping names)."""
        raise NotImplementedError

    def collapse_check(self, y_true: np.ndarray, logits: np.ndarray, label_names: list[str]) -> dict:
        raise NotImplementedError

    def evaluate(
        self,
        test: pd.DataFrame,
        probabilities: np.ndarray,
        label_names: list[str],
        bins: int,
        thresholds: list[float] | None = None,
    ) -> Evaluation:
        raise NotImplementedError

    def compare(self, predictions: dict[str, pd.DataFrame], label_names: list[str], pairs, stats) -> dict:
        """Intervals for every evaluation and a paired test per (a, b) in `pairs`, on the same test rows."""
        raise NotImplementedError


class SingleLabel(Task):
    name, title = SINGLE_LABEL, "single-label"
    problem_type, function_to_apply = "single_label_classification", "softmax"
    headline = ("accuracy", "macro_f1")
    thresholded = False

    def targets(self, labels, n_labels):
        return labels.to_numpy(dtype=int)

    def training_labels(self, labels, n_labels):
        return labels.astype(int).tolist()

    def probabilities(self, logits, temperature=1.0):
        return calibration.scaled_probabilities(logits, temperature)

    def fit_temperature(self, logits, y_true):
        return calibration.fit_temperature(logits, y_true)

    def decide(self, probabilities, thresholds=None):
        return np.asarray(probabilities).argmax(axis=-1)

    def validation_scores(self, logits, y_true):
        y_pred = np.asarray(logits).argmax(axis=-1)
        return {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        }

    def collapse_check(self, y_true, logits, label_names):
        finite = bool(np.isfinite(logits).all())
        return single_label_collapse(y_true, np.asarray(logits).argmax(axis=-1), label_names, finite=finite)

    def evaluate(self, test, probabilities, label_names, bins, thresholds=None):
        y_true = self.targets(test["label"], len(label_names))
        metrics = classification_metrics(y_true, self.decide(probabilities), label_names)
        metrics["calibration"] = calibration.calibration_metrics(y_true, probabilities, bins)
        names = np.asarray(label_names)
        table = _texts(test)
        table["actual"] = names[y_true]
        table["predicted"] = names[self.decide(probabilities)]
        table["confidence"] = probabilities.max(axis=1).round(6)
        table = _with_probabilities(table, probabilities, label_names)
        reliability = calibration.reliability_table(y_true, probabilities, bins)
        return Evaluation(metrics, table, reliability, table[["actual", "predicted"]])

    def compare(self, predictions, label_names, pairs, stats):
        tables = {name: table[["actual", "predicted"]] for name, table in predictions.items()}
        return significance.compare_evaluations(
            tables, label_names, pairs, stats.bootstrap_resamples, stats.confidence, stats.seed
        )


class MultiLabel(Task):
    name, title = MULTI_LABEL, "multi-label"
    problem_type, function_to_apply = "multi_label_classification", "sigmoid"
    headline = ("macro_f1", "micro_f1")
    thresholded = True

    def targets(self, labels, n_labels):
        y_true = np.zeros((len(labels), n_labels), dtype=int)
        for row, ids in enumerate(labels):
            y_true[row, list(ids)] = 1
        return y_true

    def training_labels(self, labels, n_labels):
        return self.targets(labels, n_labels).astype(np.float32).tolist()  # BCE takes float targets

    def probabilities(self, logits, temperature=1.0):
        return multilabel.scaled_probabilities(logits, temperature)

    def fit_temperature(self, logits, y_true):
        return multilabel.fit_temperature(logits, y_true)

    def tune_thresholds(self, y_true, probabilities, settings):
        if settings.tune == "none":
            return [settings.fallback] * y_true.shape[1]
        thresholds, _ = multilabel.tune_thresholds(y_true, probabilities, settings.fallback, settings.min_positives)
        return [round(float(t), 6) for t in thresholds]

    def decide(self, probabilities, thresholds=None):
        thresholds = np.full(probabilities.shape[1], 0.5) if thresholds is None else np.asarray(thresholds)
        return multilabel.decide(probabilities, thresholds)

    def validation_scores(self, logits, y_true):
        # Each epoch as the kept model will be used: thresholds tuned on these rows (so optimistic,
        # but alike for every epoch, which is all the choice of epoch needs).
        y_true = np.asarray(y_true).astype(int)
        probabilities = multilabel.scaled_probabilities(logits)
        thresholds, _ = multilabel.tune_thresholds(y_true, probabilities, 0.5, 1)
        y_pred = multilabel.decide(probabilities, thresholds)
        return {
            "accuracy": float(accuracy_score(y_true, y_pred)),  # subset accuracy: every label of the row right
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        }

    def collapse_check(self, y_true, logits, label_names):
        # Decided as the model will be, each label at its best threshold on these rows: at 0.5 a
        # healthy model of rare labels predicts almost none of them. A constant model stays
        # constant at any threshold, so it is still caught.
        finite = bool(np.isfinite(logits).all())
        y_true = np.asarray(y_true).astype(int)
        probabilities = multilabel.scaled_probabilities(np.nan_to_num(logits))
        thresholds, _ = multilabel.tune_thresholds(y_true, probabilities, 0.5, 1)
        y_pred = multilabel.decide(probabilities, thresholds)
        return multilabel.collapse_check(y_true, y_pred, label_names, finite=finite, probabilities=probabilities)

    def evaluate(self, test, probabilities, label_names, bins, thresholds=None):
        thresholds = np.full(len(label_names), 0.5) if thresholds is None else np.asarray(thresholds)
        y_true = self.targets(test["label"], len(label_names))
        y_pred = self.decide(probabilities, thresholds)
        metrics = multilabel.multilabel_metrics(y_true, y_pred, probabilities, label_names, thresholds)
        metrics["calibration"] = multilabel.calibration(y_true, probabilities, bins)
        table = _texts(test)
        table["actual"] = [_label_list(row, label_names) for row in y_true]
        table["predicted"] = [_label_list(row, label_names) for row in y_pred]
        table = _with_probabilities(table, probabilities, label_names)
        reliability = multilabel.reliability_table(y_true, probabilities, bins)
        return Evaluation(metrics, table, reliability, _label_pairs(y_true, y_pred, label_names))

    def compare(self, predictions, label_names, pairs, stats):
        matrices = {name: _read_label_lists(table, label_names) for name, table in predictions.items()}
        first = next(iter(matrices))
        actual = matrices[first][0]
        for name, (y_true, _) in matrices.items():
            if not np.array_equal(y_true, actual):
                raise DataError(
                    f"The {name} evaluation lists other test rows than the {first} one; rerun the evaluations on "
                    "the same prepared data: `dvc repro`."
                )
        return multilabel.compare(
            actual,
            {name: y_pred for name, (_, y_pred) in matrices.items()},
            pairs,
            stats.bootstrap_resamples,
            stats.confidence,
            stats.seed,
        )


TASKS: dict[str, Task] = {task.name: task for task in (SingleLabel(), MultiLabel())}


def _texts(test: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({column: test[column].to_numpy() for column in ("text", "text_pair") if column in test.columns})


def _with_probabilities(table: pd.DataFrame, probabilities: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    columns = {f"p_{label}": probabilities[:, i].round(6) for i, label in enumerate(label_names)}
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)


def _label_list(row: np.ndarray, label_names: list[str]) -> str:
    """A row's labels as a JSON list of names: unambiguous in a CSV cell whatever the names hold."""
    return json.dumps([label_names[i] for i in np.flatnonzero(row)], ensure_ascii=False)


def _read_label_lists(table: pd.DataFrame, label_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = {name: i for i, name in enumerate(label_names)}
    matrices = []
    for column in ("actual", "predicted"):
        matrix = np.zeros((len(table), len(label_names)), dtype=int)
        for row, cell in enumerate(table[column]):
            matrix[row, [ids[name] for name in json.loads(cell)]] = 1
        matrices.append(matrix)
    return matrices[0], matrices[1]


def _label_pairs(y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]) -> pd.DataFrame:
    """The confusion file of a multi-label evaluation: for each test row, one `actual,predicted`
    row per label it has or is given. A label found is (label, label), one missed (label, (none)),
    one added ((none), label), so DVC's confusion matrix shows hits on the diagonal, misses in the
    last column and false alarms in the last row."""
    rows = []
    for true_row, pred_row in zip(y_true.astype(bool), y_pred.astype(bool), strict=True):
        for i in np.flatnonzero(true_row | pred_row):
            rows.append((label_names[i] if true_row[i] else NO_LABEL, label_names[i] if pred_row[i] else NO_LABEL))
    return pd.DataFrame(rows, columns=["actual", "predicted"])
