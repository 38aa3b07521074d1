"""The prepared splits every stage after prepare reads: data/prepared/{train,validation,test}.jsonl,
each row a `text` (and, for text-pair tasks, a `text_pair`) and an integer `label`, and
data/prepared/labels.json, the label names in id order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src.core.errors import DataError
from src.core.files import atomic_dir, read_json, write_json
from src.core.paths import PREPARED_DIR, prepared_labels_file, prepared_split_file


def write_prepared(
    splits: dict[str, pd.DataFrame], label_names: list[str], source: str, out_dir: Path = PREPARED_DIR
) -> None:
    """Write every split and the label names to `out_dir`, all or nothing."""
    with atomic_dir(out_dir) as tmp:
        for split, frame in splits.items():
            frame.to_json(prepared_split_file(split, tmp), orient="records", lines=True, force_ascii=False)
        write_json(prepared_labels_file(tmp), {"label_names": label_names, "source": source})


def read_prepared(split: str, prepared_dir: Path = PREPARED_DIR) -> pd.DataFrame:
    path = prepared_split_file(split, prepared_dir)
    if not path.is_file():
        raise DataError(f"{path} does not exist; run the prepare stage first (`dvc repro prepare`).")
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
    labels_file = prepared_labels_file(prepared_dir)
    if not labels_file.is_file():
        raise DataError(f"{labels_file} does not exist; run the prepare stage first (`dvc repro prepare`).")
    return list(read_json(labels_file)["label_names"])
