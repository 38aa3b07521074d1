"""Splits: carving the missing ones from train, stratified seeded samples, and the summary of
what each split holds."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from src.core.errors import DataError
from src.core.paths import SPLITS
from src.data.labels import DROP_REASONS
from src.data.prepared import texts_of

log = logging.getLogger(__name__)

# A class with fewer training rows than this gets a warning: its scores are noise.
FEW_ROWS = 5
# Above this share of texts longer than model.max_length in a split, the prepare log and the
# report suggest raising it.
LONG_TEXT_SHARE = 0.05


def carve_missing(
    splits: dict[str, pd.DataFrame], shares: dict[str, float], seed: int
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Give a dataset without validation or test rows those splits, carved from train.

    Each carved split takes about `shares[split]` of the original training rows, stratified by
    label and seeded, so no row is in two splits and the class balance is kept. Rows with the
    same text (after case and spacing are normalised) go to the same side, so a carved test
    split holds no copy of a training text. Returns all three splits and the names of those carved.
    """
    splits, carved = dict(splits), []
    original = len(splits["train"])
    for split in ("test", "validation"):
        if split in splits:
            continue
        rows = max(1, round(shares[split] * original))
        if rows >= len(splits["train"]):
            raise DataError(
                f"The training split has {len(splits['train'])} rows, too few to carve a {split} split "
                f"of {rows}; add a {split} file or more training rows."
            )
        rest, part = _grouped_split(splits["train"], rows, seed, split)
        splits["train"], splits[split] = rest.reset_index(drop=True), part.reset_index(drop=True)
        carved.append(split)
    return {split: splits[split] for split in SPLITS}, sorted(carved, key=SPLITS.index)


def _grouped_split(frame: pd.DataFrame, rows: int, seed: int, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rest, about `rows` rows) of `frame`, stratified by label and seeded, each text's copies
    all on one side."""
    keys = texts_of(frame).str.split().str.join(" ").str.casefold()
    if keys.is_unique:  # every text once: a plain stratified split of the rows
        return _stratified_split(frame, rows, seed, split)
    repeated = int(keys.duplicated(keep=False).sum())
    log.info(
        "carving %s: %d rows share their text with another row (case and spacing aside); each text's rows "
        "stay on one side",
        split,
        repeated,
    )
    groups = frame.assign(key=keys).drop_duplicates("key")  # a text's first row stands for its copies
    _, part = _stratified_split(groups, max(1, round(rows * len(groups) / len(frame))), seed, split)
    taken = keys.isin(set(part["key"]))
    return frame[~taken], frame[taken]


def _stratified_split(frame: pd.DataFrame, rows: int, seed: int, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if is_multi_label(frame):
        return _iterative_split(frame, rows, seed)
    try:
        return train_test_split(frame, test_size=rows, stratify=frame["label"], random_state=seed)
    except ValueError:  # a class with a single row cannot be split in proportion
        log.warning("a class has too few rows to carve the %s split in proportion; carving it at random", split)
        return train_test_split(frame, test_size=rows, random_state=seed)


def stratified_sample(frame: pd.DataFrame, size: int | None, seed: int, split: str = "train") -> pd.DataFrame:
    """Draw `size` rows keeping the class proportions; None or a size >= the split keeps all rows.

    A size too small to keep every class of the split is an error, not a silently smaller label set.
    """
    if size is None or size >= len(frame):
        return frame.reset_index(drop=True)
    counts = label_counts(frame)
    rarest = int(counts.min())
    needed = math.ceil(len(frame) / rarest)
    kind = "label" if is_multi_label(frame) else "class"
    too_small = DataError(
        f"data.sample_size.{split} is {size}, too few to keep every {kind} of the {split} split "
        f"(its rarest {kind} has {rarest} of {len(frame)} rows). Use at least {min(needed, len(frame))} "
        "rows, or null for the whole split."
    )
    if is_multi_label(frame):
        _, sample = _iterative_split(frame, size, seed)
    else:
        try:
            sample, _ = train_test_split(frame, train_size=size, stratify=frame["label"], random_state=seed)
        except ValueError:  # a class with a single row cannot be split in proportion
            raise too_small from None
    if set(label_counts(sample).index) != set(counts.index):
        raise too_small
    return sample.reset_index(drop=True)


def is_multi_label(frame: pd.DataFrame) -> bool:
    """Whether `frame`'s labels are lists of ids (a multi-label split) rather than one id each."""
    return len(frame) > 0 and frame["label"].map(lambda value: isinstance(value, (list, tuple, np.ndarray))).all()


def label_counts(frame: pd.DataFrame) -> pd.Series:
    """Rows per label id: for multi-label rows, every row carrying the label counts."""
    labels = frame["label"].explode().dropna() if is_multi_label(frame) else frame["label"]
    return labels.astype(int).value_counts()


def _iterative_split(frame: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rest, `rows` rows) of a multi-label `frame`, by iterative stratification (Sechidis et
    al., 2011; the iterative-stratification package): the rarest labels are dealt out first, so
    every label keeps its share on both sides where its count allows. Seeded."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    width = 1 + max((max(ids) for ids in frame["label"] if len(ids)), default=0)
    matrix = np.zeros((len(frame), width), dtype=int)
    for row, ids in enumerate(frame["label"]):
        matrix[row, list(ids)] = 1
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=rows, random_state=seed)
    rest, part = next(splitter.split(np.zeros(len(frame)), matrix))
    return frame.iloc[np.sort(rest)], frame.iloc[np.sort(part)]


def count_leaks(splits: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Rows of validation and test whose text (stripped, case-folded) also appears in train.

    They are counted, not removed, so the test split stays the published one; the report shows
    the count so a user can judge how much the scores may flatter.
    """
    seen = set(texts_of(splits["train"]).str.strip().str.casefold())
    return {
        f"{split}_texts_in_train": int(texts_of(splits[split]).str.strip().str.casefold().isin(seen).sum())
        for split in ("validation", "test")
    }


def summarize(
    splits: dict[str, pd.DataFrame],
    label_names: list[str],
    available: dict[str, int] | None = None,
    dropped: dict[str, dict[str, int]] | None = None,
    origins: dict[str, str] | None = None,
    truncated: dict[str, int] | None = None,
) -> dict:
    """Where each split's rows came from, rows, rows available before sampling, rows dropped as
    unusable, texts longer than max_length, per-class counts, and the train/test overlap, for
    `dvc metrics show` and the report."""
    summary = {}
    for split, frame in splits.items():
        counts = label_counts(frame)
        summary[split] = {
            "origin": (origins or {}).get(split, split),
            "rows": int(len(frame)),
            "truncated": int((truncated or {}).get(split, 0)),
            "available": int((available or {}).get(split, len(frame))),
            "dropped": dict((dropped or {}).get(split, dict.fromkeys(DROP_REASONS, 0))),
            "classes": {name: int(counts.get(i, 0)) for i, name in enumerate(label_names)},
        }
        if is_multi_label(frame):  # how many labels the rows carry
            sizes = frame["label"].map(len)
            summary[split]["label_sets"] = {
                "no_label": int((sizes == 0).sum()),
                "one_label": int((sizes == 1).sum()),
                "several_labels": int((sizes >= 2).sum()),
                "mean_labels": round(float(sizes.mean()), 4),
            }
    summary["leakage"] = count_leaks(splits)
    return summary


def rare_classes(frame: pd.DataFrame, label_names: list[str], below: int = FEW_ROWS) -> dict[str, int]:
    """{class name: rows} for the classes with fewer than `below` rows in `frame`."""
    counts = label_counts(frame)
    return {name: int(counts.get(i, 0)) for i, name in enumerate(label_names) if counts.get(i, 0) < below}
