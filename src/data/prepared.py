"""The prepared splits every stage after prepare reads: data/prepared/{train,validation,test}.jsonl,
each row a `text` (and, for text-pair tasks, a `text_pair`) and a `label`: an integer id, or for
multi-label data a list of them; and data/prepared/labels.json, the label names in id order and
the task (single_label or multi_label, src/scoring/tasks.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src.core.errors import DataError
from src.core.files import atomic_dir, read_json, write_json
from src.core.paths import PREPARED_DIR, prepared_labels_file, prepared_split_file

# The kinds of classification (src/scoring/tasks.py says what each means for the later stages).
SINGLE_LABEL, MULTI_LABEL = "single_label", "multi_label"


def write_prepared(
    splits: dict[str, pd.DataFrame],
    label_names: list[str],
    source: str,
    out_dir: Path = PREPARED_DIR,
    task: str = SINGLE_LABEL,
) -> None:
    """Write every split, the label names and the task to `out_dir`, all or nothing."""
    with atomic_dir(out_dir) as tmp:
        for split, frame in splits.items():
            frame.to_json(prepared_split_file(split, tmp), orient="records", lines=True, force_ascii=False)
        labels = {"label_names": label_names, "source": source}
        if task != SINGLE_LABEL:  # the single-label file stays as it was, so its hash does too
            labels["task"] = task
        write_json(prepared_labels_file(tmp), labels)


def read_prepared(split: str, prepared_dir: Path = PREPARED_DIR) -> pd.DataFrame:
    path = prepared_split_file(split, prepared_dir)
    if not path.is_file():
        raise DataError(f"{path} does not exist; run the prepare stage first (`dvc repro prepare`).")
    if read_task(prepared_dir) == MULTI_LABEL:  # a list of ids per row
        return pd.read_json(path, lines=True, dtype={"text": str, "text_pair": str, "label": object})
    return pd.read_json(path, lines=True, dtype={"text": str, "text_pair": str, "label": int})


def text_inputs(frame: pd.DataFrame) -> tuple[list[str], list[str] | None]:
    """The texts of a prepared split for a tokenizer: (texts, second texts of the pairs or None)."""
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    return frame["text"].tolist(), pairs


def texts_of(frame: pd.DataFrame) -> pd.Series:
    """One string per row: the text, or the two texts of a pair joined (for word counts)."""
    if "text_pair" in frame.columns:
        return frame["text"] + " " + frame["text_pair"]
    return frame["text"]


def read_label_names(prepared_dir: Path = PREPARED_DIR) -> list[str]:
    return list(_labels(prepared_dir)["label_names"])


def read_task(prepared_dir: Path = PREPARED_DIR) -> str:
    """single_label or multi_label: what kind of classification the prepared data is."""
    return _labels(prepared_dir).get("task", SINGLE_LABEL)


def _labels(prepared_dir: Path) -> dict:
    labels_file = prepared_labels_file(prepared_dir)
    if not labels_file.is_file():
        raise DataError(f"{labels_file} does not exist; run the prepare stage first (`dvc repro prepare`).")
    return read_json(labels_file)
