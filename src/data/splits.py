"""Splits: stratified, seeded samples, and the summary of what each split holds."""

from __future__ import annotations

import math

import pandas as pd
from sklearn.model_selection import train_test_split

from src.core.errors import DataError


def stratified_sample(frame: pd.DataFrame, size: int | None, seed: int, split: str = "train") -> pd.DataFrame:
    """Draw `size` rows keeping the class proportions; None or a size >= the split keeps all rows.

    A size too small to keep every class of the split is an error, not a silently smaller label set.
    """
    if size is None or size >= len(frame):
        return frame.reset_index(drop=True)
    counts = frame["label"].value_counts()
    rarest = int(counts.min())
    needed = math.ceil(len(frame) / rarest)
    too_small = DataError(
        f"data.sample_size.{split} is {size}, too few to keep every class of the {split} split "
        f"(its rarest class has {rarest} of {len(frame)} rows). Use at least {min(needed, len(frame))} "
        "rows, or null for the whole split."
    )
    try:
        sample, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
    except ValueError:  # a class with a single row cannot be split in proportion
        raise too_small from None
    if set(sample["label"]) != set(counts.index):
        raise too_small
    return sample.reset_index(drop=True)


def count_leaks(splits: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Rows of validation and test whose text (stripped, case-folded) also appears in train.

    They are counted, not removed, so the test split stays the published one; the report shows
    the count so a user can judge how much the scores may flatter.
    """
    seen = set(splits["train"]["text"].str.strip().str.casefold())
    return {
        f"{split}_texts_in_train": int(splits[split]["text"].str.strip().str.casefold().isin(seen).sum())
        for split in ("validation", "test")
    }


def summarize(
    splits: dict[str, pd.DataFrame],
    label_names: list[str],
    available: dict[str, int] | None = None,
    dropped: dict[str, dict[str, int]] | None = None,
) -> dict:
    """Rows, rows available before sampling, rows dropped as unusable, per-class counts of each
    split, and the train/test overlap, for `dvc metrics show` and the report."""
    summary = {}
    for split, frame in splits.items():
        counts = frame["label"].value_counts()
        summary[split] = {
            "rows": int(len(frame)),
            "available": int((available or {}).get(split, len(frame))),
            "dropped": dict((dropped or {}).get(split, {"null_label": 0, "empty_text": 0})),
            "classes": {name: int(counts.get(i, 0)) for i, name in enumerate(label_names)},
        }
    summary["leakage"] = count_leaks(splits)
    return summary
