"""Labels: dropping rows that carry none, and encoding names as contiguous integer ids.

Integer labels keep their order but not necessarily their values: ids 1, 2, 5 become 0, 1, 2,
with the names (from a Hub ClassLabel, a `label_text` column, or the numbers) kept. String labels
are stripped of surrounding spaces and numbered in sorted order of the names the training split
uses. A label of validation or test that training never uses is an error: no model trained on
these rows could ever predict it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.core.errors import DataError

# Why a row was dropped, as counted in metrics/data.json.
DROP_REASONS = ("null_label", "empty_text", "unlabelled")


def drop_unusable_rows(
    frame: pd.DataFrame, text_columns: list[str], label_column: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows with no label, a negative (unlabelled) id, or an empty (or whitespace-only) text,
    and count each reason.

    Such rows carry nothing to learn or score; dropping them, counted in the data summary and the
    report, beats stopping a run over a handful of blank lines.
    """
    labels = whole_numbers_as_ints(frame[label_column])
    null_label = labels.isna() | (labels.astype(str).str.strip() == "")
    if pd.api.types.is_numeric_dtype(labels):
        unlabelled = ~null_label & (labels < 0)
    else:
        unlabelled = pd.Series(False, index=frame.index)
    empty_text = pd.Series(False, index=frame.index)
    for column in text_columns:
        texts = frame[column]
        empty_text |= texts.isna() | (texts.astype(str).str.strip() == "")
    empty_text &= ~(null_label | unlabelled)
    keep = ~(null_label | unlabelled | empty_text)
    kept = frame[keep].reset_index(drop=True)
    kept[label_column] = whole_numbers_as_ints(kept[label_column])
    counts = {"null_label": null_label, "empty_text": empty_text, "unlabelled": unlabelled}
    return kept, {reason: int(counts[reason].sum()) for reason in DROP_REASONS}


def whole_numbers_as_ints(labels: pd.Series) -> pd.Series:
    """Floats that are all whole numbers (1.0, 2.0: how pandas reads ids beside a blank) as ints."""
    present = labels.dropna()
    if pd.api.types.is_float_dtype(labels) and len(present) == len(labels) and (present % 1 == 0).all():
        return labels.astype(int)
    return labels


def encode_labels(
    raw: dict[str, pd.DataFrame],
    text_columns: list[str],
    label_column: str,
    class_names: list[str] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Turn each split into `text` (and `text_pair`) + integer `label`; return the label names in id order."""
    train_labels = raw["train"][label_column]
    integer_ids = pd.api.types.is_integer_dtype(train_labels)
    if integer_ids:
        used = sorted(int(i) for i in train_labels.unique())
        names = dict(enumerate(class_names)) if class_names else _names_from_label_text(raw, label_column)
        label_names = [names.get(i, str(i)) for i in used]
        encode = {label: i for i, label in enumerate(used)}
    else:
        _check_no_near_duplicates(raw, label_column)
        label_names = sorted(train_labels.astype(str).str.strip().unique())
        encode = {name: i for i, name in enumerate(label_names)}

    splits = {}
    for split, frame in raw.items():
        labels = frame[label_column] if integer_ids else frame[label_column].astype(str).str.strip()
        ids = labels.map(encode)
        _check_known(split, sorted(set(labels[ids.isna()].astype(str))), encode)
        splits[split] = pd.DataFrame({**_texts(frame, text_columns), "label": ids.astype(int)})
    return splits, [str(name) for name in label_names]


def _check_known(split: str, unknown: list[str], encode: dict) -> None:
    """A label of validation or test that training never uses is an error: no model can predict it."""
    if unknown:
        raise DataError(
            f"The {split} split has label(s) {_some(unknown)} that the training split never uses "
            f"(known: {_some(list(map(str, encode)))}). No model trained on these rows can predict them: "
            "drop those rows, or add examples of them to train."
        )


def _texts(frame: pd.DataFrame, text_columns: list[str]) -> dict[str, pd.Series]:
    """The prepared `text` (and `text_pair`) columns of a split."""
    columns = {"text": frame[text_columns[0]].astype(str)}
    if len(text_columns) == 2:
        columns["text_pair"] = frame[text_columns[1]].astype(str)
    return columns


def _check_no_near_duplicates(raw: dict[str, pd.DataFrame], label_column: str) -> None:
    """String labels that differ only in case or inner spacing are almost surely one label."""
    names = pd.concat([frame[label_column].astype(str).str.strip() for frame in raw.values()]).unique()
    by_key: dict[str, set[str]] = {}
    for name in names:
        by_key.setdefault(" ".join(name.split()).casefold(), set()).add(name)
    clashes = [sorted(group) for group in by_key.values() if len(group) > 1]
    if clashes:
        shown = "; ".join(" vs ".join(repr(name) for name in group) for group in clashes)
        raise DataError(
            f"Labels that differ only in case or spacing: {shown}. They would train as different "
            f"classes; make each one label in the data's {label_column!r} column."
        )


def _names_from_label_text(raw: dict[str, pd.DataFrame], label_column: str) -> dict[int, str]:
    """Label id -> name from a `label_text` column; ids without one are named by their number."""
    frames = pd.concat(raw.values(), ignore_index=True)
    if "label_text" not in frames.columns:
        return {}
    pairs = frames[[label_column, "label_text"]].drop_duplicates()
    names: dict[int, str] = {}
    for label_id, name in pairs.itertuples(index=False):
        if names.setdefault(int(label_id), str(name)) != str(name):
            raise DataError(f"Label {label_id} is called both {names[int(label_id)]!r} and {name!r} in label_text.")
    return names


def _some(names: list[str], shown: int = 12) -> str:
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


# ---------------------------------------------------------------------------- several labels per text

SEPARATORS = ",;|"  # what `data.label_separator: auto` looks for between a row's labels
# With `data.task: auto`, data is multi-label when more than this share of the training rows hold
# a list of labels: a few stray commas in single-label names do not make a multi-label dataset.
LISTED_SHARE = 0.05


def is_list(value) -> bool:
    """A list of labels as jsonl and parquet give them (a list, or a numpy array from pyarrow)."""
    return isinstance(value, (list, tuple, np.ndarray))


def listed_share(labels: pd.Series, separator: str) -> tuple[float, str | None]:
    """(share of `labels` that hold two or more labels, the separator between them). Lists count as
    listed; strings are split at `separator`, or with `auto` at the one of , ; | that most rows use."""
    lists = labels.map(is_list)
    if lists.any():
        return float(labels[lists].map(len).ge(2).sum() / len(labels)), None
    text = labels.astype(str)
    best = (0.0, None)
    for candidate in SEPARATORS if separator == "auto" else separator:
        parts = text.str.split(candidate, regex=False)
        share = float(parts.map(lambda items: sum(bool(item.strip()) for item in items) >= 2).mean())
        best = max(best, (share, candidate), key=lambda found: found[0])
    return best[0], best[1] or (None if separator == "auto" else separator)


def from_label_columns(frame: pd.DataFrame, columns: list[str], where: str) -> pd.Series:
    """One 0/1 column per label -> a list of the labels each row has (column names). A row with a
    blank in any of them has no label (dropped as such); every other value must be 0 or 1."""
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    for column in columns:
        bad = frame[column][values[column].notna() & ~values[column].isin([0, 1])]
        text = frame[column][values[column].isna() & frame[column].notna()]
        bad = pd.concat([bad, text[text.astype(str).str.strip() != ""]])
        if len(bad):
            raise DataError(
                f"{where}: the label column {column!r} holds {str(bad.iloc[0])!r}; each of data.label_column's 0/1 "
                "columns must hold 0 or 1 (a blank marks a row with no label)."
            )
    blank = values.isna().any(axis=1)
    lists = [[name for name in columns if row[name] == 1] for _, row in values.iterrows()]
    return pd.Series(
        [None if missing else labels for labels, missing in zip(lists, blank, strict=True)], index=frame.index
    )


def as_label_lists(labels: pd.Series, separator: str | None) -> pd.Series:
    """Each row's labels as a list of stripped strings or ints: lists as they are, strings split at
    `separator`, a single value as a list of one. An empty list is a row with none of the labels."""

    def one(value) -> list:
        if is_list(value):
            items = list(value)
        elif isinstance(value, str):
            items = value.split(separator) if separator else [value]
        else:
            items = [value]
        items = [item.strip() if isinstance(item, str) else item for item in items]
        return [item for item in items if not (isinstance(item, str) and item == "")]

    return labels.map(one)


def encode_label_lists(
    raw: dict[str, pd.DataFrame],
    text_columns: list[str],
    label_column: str,
    class_names: list[str] | None,
    separator: str | None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Multi-label splits: `text` (and `text_pair`) + `label`, a sorted list of label ids per row.

    Labels that are all whole numbers are ids (named from a ClassLabel, a labels file, or their
    number), in id order; names are numbered in sorted order of those training uses. A label of
    validation or test that training never uses is an error, as for single labels."""
    lists = {split: as_label_lists(frame[label_column], separator) for split, frame in raw.items()}
    train_items = sorted({item for items in lists["train"] for item in items}, key=str)
    integer_ids = bool(train_items) and all(_is_id(item) for items in lists.values() for row in items for item in row)
    if integer_ids:
        used = sorted({int(item) for item in train_items})
        names = dict(enumerate(class_names or []))
        label_names = [str(names.get(i, i)) for i in used]
        encode = {i: position for position, i in enumerate(used)}
        key = int
    else:
        label_names = sorted({str(item) for item in train_items})
        _check_no_near_duplicates({"all": pd.DataFrame({"label": label_names})}, "label")
        encode = {name: position for position, name in enumerate(label_names)}
        key = str
    splits = {}
    for split, frame in raw.items():
        _check_known(
            split, sorted({str(item) for row in lists[split] for item in row if key(item) not in encode}), encode
        )
        ids = [sorted({encode[key(item)] for item in row}) for row in lists[split]]
        splits[split] = pd.DataFrame(
            {**_texts(frame, text_columns), "label": pd.Series(ids, index=frame.index, dtype=object)}
        )
    return splits, label_names


def _is_id(item) -> bool:
    if isinstance(item, str):
        return item.isdigit()
    return isinstance(item, (int, np.integer)) or (isinstance(item, float) and item.is_integer() and item >= 0)
