"""Reading a labelled text dataset, sampling it, and writing the prepared splits.

`data.dataset` in params.yaml is a local folder or a Hub dataset id. A Hub id is first looked up
in the folders of `data.mirrors` (as <mirror>/<owner>/<name> or <mirror>/<name>), so the default
`dair-ai/emotion` finds ../shared/data/emotion offline; only when no mirror has it is it loaded
from the Hub with `datasets.load_dataset`.

Prepared splits hold two columns, `text` and `label` (an integer id); the label names live in
data/prepared/labels.json, in id order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from src.errors import DataError
from src.hub import hub_reachable, unreachable_hint
from src.outputs import atomic_dir, read_json
from src.paths import LABELS_FILE, PREPARED_DIR, SPLITS, find_folder, search_roots

LOCAL_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass
class LabelledSplits:
    splits: dict[str, pd.DataFrame]  # split name -> columns `text`, `label` (int id)
    label_names: list[str]  # label id -> name
    source: str  # the folder or Hub id the rows came from
    dropped: dict[str, dict[str, int]]  # split name -> rows dropped as unusable, by reason


# --------------------------------------------------------------------------- finding the data


def resolve_dataset(dataset: str, mirrors: Sequence[str], roots: list[Path] | None = None) -> Path | str:
    """Return the local folder that holds `dataset`, or the Hub id when no folder does."""
    roots = roots or search_roots()
    local = find_folder(dataset, roots)
    if local is not None:
        return local.resolve()
    if Path(dataset).expanduser().is_absolute() or dataset.startswith((".", "~")) or dataset.count("/") > 1:
        raise DataError(
            f"data.dataset is {dataset!r}, which looks like a folder, but it does not exist "
            f"(looked in {', '.join(map(str, roots))}). "
            "Point it at a folder holding train, validation and test files (jsonl, csv or parquet)."
        )
    for mirror in mirrors:
        for candidate in (f"{mirror}/{dataset}", f"{mirror}/{dataset.split('/')[-1]}"):
            found = find_folder(candidate, roots)
            if found is not None:
                return found.resolve()
    return dataset


def load_labelled_splits(
    dataset: str,
    mirrors: Sequence[str],
    text_column: str,
    label_column: str,
    roots: list[Path] | None = None,
) -> LabelledSplits:
    source = resolve_dataset(dataset, mirrors, roots)
    if isinstance(source, Path):
        raw, class_names = read_local_splits(source), None
    else:
        raw, class_names = _load_hub_splits(source, label_column, mirrors)
    for split, frame in raw.items():
        for column in (text_column, label_column):
            if column not in frame.columns:
                raise DataError(
                    f"The {split} split of {source} has no column {column!r} "
                    f"(columns: {', '.join(map(str, frame.columns))}). "
                    "Set data.text_column / data.label_column in params.yaml."
                )
    cleaned, dropped = {}, {}
    for split, frame in raw.items():
        cleaned[split], dropped[split] = drop_unusable_rows(frame, text_column, label_column)
        if cleaned[split].empty:
            raise DataError(
                f"The {split} split of {source} has no usable rows: all {len(frame)} have an empty "
                f"text or no label ({dropped[split]})."
            )
    splits, label_names = encode_labels(cleaned, text_column, label_column, class_names)
    return LabelledSplits(splits=splits, label_names=label_names, source=str(source), dropped=dropped)


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


def read_local_splits(folder: Path) -> dict[str, pd.DataFrame]:
    """Read <folder>/{train,validation,test}.{jsonl,json,csv,parquet}."""
    splits = {}
    for split in SPLITS:
        candidates = [folder / f"{split}{ext}" for ext in LOCAL_FORMATS if (folder / f"{split}{ext}").is_file()]
        if not candidates:
            raise DataError(
                f"No {split} file in {folder}: expected one of "
                f"{', '.join(split + ext for ext in LOCAL_FORMATS)}."
            )
        splits[split] = read_split_file(candidates[0])
    return splits


def read_split_file(path: Path) -> pd.DataFrame:
    """One split file; a file that is not UTF-8, cannot be parsed or has no rows is an error."""
    kind = LOCAL_FORMATS[path.suffix]
    if kind != "parquet":
        raw = path.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise DataError(f"{path}, line {line}, is not valid UTF-8; save the file as UTF-8.") from None
    try:
        if kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        elif kind == "csv":
            # Keep "NA" or "None" as text; only truly empty cells count as missing.
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; it needs a header and at least one row.") from None
    except ValueError as error:
        raise DataError(f"{path} could not be read as {kind}: {error}") from None
    if frame.empty:
        raise DataError(f"{path} has no rows; it needs at least one labelled text.")
    return frame


def _load_hub_splits(
    dataset_id: str, label_column: str, mirrors: Sequence[str]
) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    import datasets

    if not hub_reachable():
        raise DataError(
            f"{unreachable_hint()}, and no folder in data.mirrors ({', '.join(mirrors) or 'none'}) "
            f"holds a copy of {dataset_id!r}. Put the dataset's train/validation/test files in a "
            "folder and set data.dataset to that folder, or add its parent folder to data.mirrors."
        )
    try:
        loaded = datasets.load_dataset(dataset_id)
    except Exception as error:  # the Hub raises many types; all mean "not loadable from here"
        raise DataError(
            f"Could not load the Hub dataset {dataset_id!r} ({type(error).__name__}: {error}). "
            f"No folder in data.mirrors ({', '.join(mirrors) or 'none'}) holds a copy either. "
            "Without network access, put the dataset's train/validation/test files in a folder and "
            "set data.dataset to that folder, or add its parent folder to data.mirrors."
        ) from error
    missing = [split for split in SPLITS if split not in loaded]
    if missing:
        raise DataError(f"The Hub dataset {dataset_id!r} has no {', '.join(missing)} split.")
    feature = loaded["train"].features.get(label_column)
    class_names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return {split: loaded[split].to_pandas() for split in SPLITS}, class_names


# --------------------------------------------------------------------------- labels


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
            raise DataError(
                f"Label {label_id} is called both {names[int(label_id)]!r} and {name!r} in label_text."
            )
    return [names.get(i, str(i)) for i in range(n_labels)]


# --------------------------------------------------------------------------- sampling


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


# --------------------------------------------------------------------------- prepared splits


def write_prepared(splits: dict[str, pd.DataFrame], label_names: list[str], source: str, out_dir: Path = PREPARED_DIR) -> None:
    with atomic_dir(out_dir) as tmp:
        for split, frame in splits.items():
            frame.to_json(tmp / f"{split}.jsonl", orient="records", lines=True, force_ascii=False)
        (tmp / "labels.json").write_text(
            json.dumps({"label_names": label_names, "source": source}, indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )


def read_prepared(split: str, prepared_dir: Path = PREPARED_DIR) -> pd.DataFrame:
    path = prepared_dir / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{path} does not exist; run the prepare stage first (`dvc repro prepare`).")
    return pd.read_json(path, lines=True, dtype={"text": str, "label": int})


def read_label_names(labels_file: Path = LABELS_FILE) -> list[str]:
    if not labels_file.is_file():
        raise DataError(f"{labels_file} does not exist; run the prepare stage first (`dvc repro prepare`).")
    return list(read_json(labels_file)["label_names"])
