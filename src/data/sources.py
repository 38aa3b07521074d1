"""Finding a labelled text dataset, reading its splits, and turning them into train, validation
and test splits of `text` (and `text_pair`) with integer labels.

`data.dataset` in params.yaml is a local folder or a Hub dataset id. A Hub id is first looked up
in the folders of `data.mirrors` (as <mirror>/<owner>/<name> or <mirror>/<name>), so the default
`dair-ai/emotion` finds ../shared/data/emotion offline; only when no mirror has it is it loaded
from the Hub with `datasets.load_dataset`.

Only a train split is required. In a folder, each split is found in the layouts datasets are
published in (src/data/layouts.py; `data.splits` and `data.read` say what names and suffixes
don't); on the Hub, under its usual names. A missing split is carved from train
(src/data/splits.py). A split whose labels are all negative (GLUE's unlabelled test sets use -1)
counts as missing. A training split with a single class is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from src.core.errors import DataError
from src.core.hub import hub_reachable, unreachable_hint
from src.core.paths import find_folder, search_roots
from src.data.labels import (
    LISTED_SHARE,
    drop_unusable_rows,
    encode_label_lists,
    encode_labels,
    from_label_columns,
    is_list,
    listed_share,
)
from src.data.layouts import SPLIT_NAMES, locate_splits, read_split
from src.data.prepared import MULTI_LABEL, SINGLE_LABEL
from src.data.splits import carve_missing
from src.data.tables import decode

log = logging.getLogger(__name__)

LABELS = "__labels__"  # the column 0/1 label columns are gathered into
LABELS_FILE = "labels.txt"  # label names beside the data, one a line, read with data.label_names: auto

if TYPE_CHECKING:
    from src.core.params import DataParams


@dataclass
class LabelledSplits:
    splits: dict[str, pd.DataFrame]  # train/validation/test -> columns `text` (`text_pair`), `label` (int id)
    label_names: list[str]  # label id -> name
    source: str  # the folder or Hub id the rows came from
    origins: dict[str, str]  # split -> where its rows came from: a file, a Hub split, or "train" if carved
    dropped: dict[str, dict[str, int]]  # split -> rows dropped as unusable, by reason
    task: str = SINGLE_LABEL  # single_label, or multi_label: each row's `label` a list of ids


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


def load_labelled_splits(data: DataParams, roots: list[Path] | None = None) -> LabelledSplits:
    """Find, read, clean and encode the dataset `data` names; carve the splits it lacks."""
    source = resolve_dataset(data.dataset, data.mirrors, roots)
    text_columns = [data.text_column] if isinstance(data.text_column, str) else list(data.text_column)
    if isinstance(source, Path):
        raw, origins, class_names = read_local_splits(source, data, text_columns)
    else:
        raw, origins, class_names = _load_hub_splits(source, data.label_column, data.mirrors, data.splits)
    label_columns = [data.label_column] if isinstance(data.label_column, str) else list(data.label_column)
    for split in [split for split in raw if split != "train" and label_columns[0] not in raw[split].columns]:
        del raw[split]  # GLUE's local test files have no label column: carve a test split instead
        origins[split] = f"{origins[split]} has no {label_columns[0]!r} column"
    for split, frame in raw.items():
        for column in (*text_columns, *label_columns):
            if column not in frame.columns:
                raise DataError(
                    f"The {split} split of {source} ({origins[split]}) has no column {column!r} "
                    f"(columns: {', '.join(map(str, frame.columns))}). "
                    "Set data.text_column / data.label_column in params.yaml; if the file's first line is "
                    "a data row, set data.read.header: false and name its columns in data.read.columns."
                )
    label_column = label_columns[0]
    if len(label_columns) > 1:  # one 0/1 column per label: the names are the columns'
        label_column = LABELS
        for split, frame in raw.items():
            raw[split] = frame.assign(
                **{LABELS: from_label_columns(frame, label_columns, f"{split} split of {source}")}
            )
    cleaned, dropped = {}, {}
    for split, frame in raw.items():
        cleaned[split], dropped[split] = drop_unusable_rows(frame, text_columns, label_column)
        if cleaned[split].empty and split != "train" and dropped[split]["unlabelled"] == len(frame):
            del cleaned[split]  # an unlabelled split (GLUE's test) scores nothing: carve one instead
            origins[split] = f"{origins[split]} has no labels"
        elif cleaned[split].empty:
            raise DataError(
                f"The {split} split of {source} ({origins[split]}) has no usable rows: all {len(frame)} "
                f"have an empty text or no label ({dropped[split]})."
            )
    task, separator = find_task(cleaned["train"][label_column], data, len(label_columns) > 1)
    names = label_names_of(data, source, class_names)
    if task == MULTI_LABEL:
        encoded, label_names = encode_label_lists(cleaned, text_columns, label_column, names, separator)
    else:
        classes = cleaned["train"][label_column].astype(str).str.strip().unique()
        if len(classes) < 2:
            raise DataError(
                f"The training split of {source} ({origins['train']}) has a single class, {classes[0]!r}, in all "
                f"{len(cleaned['train']):,} usable rows: a classifier needs two or more. Check that "
                f"data.label_column ({data.label_column!r}) is the label, and that the files hold every class."
            )
        encoded, label_names = encode_labels(cleaned, text_columns, label_column, names)
    splits, carved = carve_missing(encoded, data.carve, data.seed)
    for split in carved:
        origins[split] = f"carved from train ({data.carve[split]:.0%})" + (
            f"; {origins[split]}" if split in origins else ""
        )
        dropped.setdefault(split, {reason: 0 for reason in dropped["train"]})
    return LabelledSplits(splits, label_names, str(source), origins, dropped, task)


def find_task(labels: pd.Series, data: DataParams, label_columns: bool) -> tuple[str, str | None]:
    """(single_label or multi_label, the separator between a row's labels) for the training
    labels and `data.task`. With `auto`, 0/1 label columns, a column of lists, and strings where
    over 5% of rows hold a list (`3,15`) are multi-label; the log says which was found and why."""
    if label_columns:
        if data.task == SINGLE_LABEL:
            raise DataError(
                "data.label_column names several 0/1 columns, which is multi-label data, but data.task is "
                "single_label: set data.task to multi_label or auto, or name the one label column."
            )
        log.info("multi-label: one 0/1 column per label (data.label_column)")
        return MULTI_LABEL, None
    share, separator = listed_share(labels, data.label_separator)
    lists = bool(labels.map(is_list).any())  # a column of lists is multi-label by its form
    if data.task == SINGLE_LABEL or (data.task == "auto" and share <= LISTED_SHARE and not lists):
        if share and data.task == SINGLE_LABEL:
            log.warning(
                "data.task is single_label, but %.0f%% of the training labels hold several labels; each such list "
                "is read as one class of its own",
                100 * share,
            )
        elif share:
            log.info("%.1f%% of the training labels look like lists; too few to be multi-label data", 100 * share)
        return SINGLE_LABEL, None
    how = "lists" if separator is None else f"labels joined by {separator!r}"
    log.info(
        "multi-label%s: %.1f%% of the training rows hold two or more labels (%s)",
        "" if data.task == MULTI_LABEL else " (data.task auto)",
        100 * share,
        how,
    )
    return MULTI_LABEL, separator


def label_names_of(data: DataParams, source: Path | str, class_names: list[str] | None) -> list[str] | None:
    """Names of integer label ids: `data.label_names` (a list, or a file of the dataset with one
    name a line), else those the files carry (a ClassLabel, a mapping.txt), else with `auto` a
    labels.txt beside the data."""
    setting = data.label_names
    if isinstance(setting, list):
        return [str(name) for name in setting]
    if setting is None or (setting == "auto" and (class_names or not isinstance(source, Path))):
        return class_names
    path = source / (LABELS_FILE if setting == "auto" else setting) if isinstance(source, Path) else Path(setting)
    if not path.is_file():
        if setting == "auto":
            return class_names
        raise DataError(
            f"data.label_names is {setting!r}, but {path} does not exist. Name a file of the dataset folder that "
            "holds one label name a line (in id order), or give the names as a list."
        )
    names = [line.strip() for line in decode(path, data.read.encoding).splitlines() if line.strip()]
    log.info("label names from %s: %s", path.name, ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""))
    return names


def read_local_splits(
    folder: Path, data: DataParams, text_columns: list[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[str] | None]:
    """Read the splits of `folder` (src/data/layouts.py): {split: frame}, {split: where from}, and
    the label names the training files carry (Hub parquet features, a mapping.txt) or None."""
    located = locate_splits(folder, data.splits, data.read)
    frames, class_names = {}, None
    for split, files in located.items():
        frames[split], names = read_split(files, data.read, text_columns, data.label_column)
        if split == "train":
            class_names = names
    return frames, {split: files.origin for split, files in located.items()}, class_names


def _load_hub_splits(
    dataset_id: str, label_column: str | list[str], mirrors: Sequence[str], names: dict[str, str | None]
) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[str] | None]:
    import datasets

    if not hub_reachable():
        raise DataError(
            f"{unreachable_hint()}, and no folder in data.mirrors ({', '.join(mirrors) or 'none'}) "
            f"holds a copy of {dataset_id!r}. Put the dataset's split files in a folder and set "
            "data.dataset to that folder, or add its parent folder to data.mirrors."
        )
    try:
        loaded = datasets.load_dataset(dataset_id)
    except Exception as error:  # the Hub raises many types; all mean "not loadable from here"
        raise DataError(
            f"Could not load the Hub dataset {dataset_id!r} ({type(error).__name__}: {error}). "
            f"No folder in data.mirrors ({', '.join(mirrors) or 'none'}) holds a copy either. "
            "Without network access, put the dataset's split files in a folder and set "
            "data.dataset to that folder, or add its parent folder to data.mirrors."
        ) from error
    chosen = {}
    for split, usual in SPLIT_NAMES.items():
        if isinstance(names.get(split), dict):
            raise DataError(f"data.splits.{split} names line files, which only a local dataset folder has.")
        wanted = (names[split],) if split in names else usual
        found = [name for name in wanted if name is not None and name in loaded]
        if found:
            chosen[split] = found[0]
        elif split == "train" or (split in names and names[split] is not None):
            raise DataError(
                f"The Hub dataset {dataset_id!r} has no {' or '.join(map(str, wanted))} split "
                f"(it has {', '.join(loaded)}); name the right one in data.splits.{split}."
            )
    feature = loaded[chosen["train"]].features.get(label_column) if isinstance(label_column, str) else None
    feature = getattr(feature, "feature", feature)  # a list of labels per row: List(ClassLabel(...))
    class_names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    frames = {split: loaded[name].to_pandas() for split, name in chosen.items()}
    return frames, {split: f"Hub split {name!r}" for split, name in chosen.items()}, class_names
