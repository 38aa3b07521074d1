"""Labels: dropping rows that carry none, and encoding names as contiguous integer ids."""

from __future__ import annotations

import pandas as pd

from src.core.errors import DataError


def drop_unusable_rows(frame: pd.DataFrame, text_column: str, label_column: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows with no label or an empty (or whitespace-only) text, and count each reason.

    Such rows carry nothing to learn or score; dropping them, counted in the data summary and the
    report, beats stopping a run over a handful of blank lines.
    """
    labels = frame[label_column]
    null_label = labels.isna() | (labels.astype(str).str.strip() == "")
    texts = frame[text_column]
    empty_text = ~null_label & (texts.isna() | (texts.astype(str).str.strip() == ""))
    kept = frame[~(null_label | empty_text)].reset_index(drop=True)
    if pd.api.types.is_float_dtype(kept[label_column]) and (kept[label_column] % 1 == 0).all():
        kept[label_column] = kept[label_column].astype(int)  # a null made pandas read the ids as floats
    return kept, {"null_label": int(null_label.sum()), "empty_text": int(empty_text.sum())}


def encode_labels(
    raw: dict[str, pd.DataFrame],
    text_column: str,
    label_column: str,
    class_names: list[str] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Turn each split into `text` + integer `label`, and return the label names in id order.

    Integer labels take their names from `class_names` (a Hub ClassLabel), else from a
    `label_text` column, else from the numbers themselves. String labels are numbered in
    sorted order of the names seen in the training split.
    """
    train_labels = raw["train"][label_column]
    if pd.api.types.is_integer_dtype(train_labels):
        label_names = class_names or _names_from_label_text(raw, label_column)
        encode = {i: i for i in range(len(label_names))}
    else:
        label_names = sorted(train_labels.astype(str).unique())
        encode = {name: i for i, name in enumerate(label_names)}

    splits = {}
    for split, frame in raw.items():
        labels = frame[label_column] if pd.api.types.is_integer_dtype(train_labels) else frame[label_column].astype(str)
        ids = labels.map(encode)
        unknown = sorted(set(labels[ids.isna()].astype(str)))
        if unknown:
            raise DataError(
                f"The {split} split has label(s) {', '.join(unknown)} that the training split "
                f"never uses (known: {', '.join(map(str, encode))})."
            )
        splits[split] = pd.DataFrame({"text": frame[text_column].astype(str), "label": ids.astype(int)})
    return splits, [str(name) for name in label_names]


def _names_from_label_text(raw: dict[str, pd.DataFrame], label_column: str) -> list[str]:
    frames = pd.concat(raw.values(), ignore_index=True)
    n_labels = int(frames[label_column].max()) + 1
    if "label_text" not in frames.columns:
        return [str(i) for i in range(n_labels)]
    pairs = frames[[label_column, "label_text"]].drop_duplicates()
    names = {}
    for label_id, name in pairs.itertuples(index=False):
        if names.setdefault(int(label_id), str(name)) != str(name):
            raise DataError(f"Label {label_id} is called both {names[int(label_id)]!r} and {name!r} in label_text.")
    return [names.get(i, str(i)) for i in range(n_labels)]
