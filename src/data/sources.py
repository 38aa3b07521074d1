"""Finding a labelled text dataset and reading its splits.

`data.dataset` in params.yaml is a local folder or a Hub dataset id. A Hub id is first looked up
in the folders of `data.mirrors` (as <mirror>/<owner>/<name> or <mirror>/<name>), so the default
`dair-ai/emotion` finds ../shared/data/emotion offline; only when no mirror has it is it loaded
from the Hub with `datasets.load_dataset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from src.core.errors import DataError
from src.core.hub import hub_reachable, unreachable_hint
from src.core.paths import SPLITS, find_folder, search_roots
from src.data.labels import drop_unusable_rows, encode_labels
from src.data.tables import FORMATS, read_table


@dataclass
class LabelledSplits:
    splits: dict[str, pd.DataFrame]  # split name -> columns `text`, `label` (int id)
    label_names: list[str]  # label id -> name
    source: str  # the folder or Hub id the rows came from
    dropped: dict[str, dict[str, int]]  # split name -> rows dropped as unusable, by reason


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


def read_local_splits(folder: Path) -> dict[str, pd.DataFrame]:
    """Read <folder>/{train,validation,test}.{jsonl,json,csv,parquet}."""
    splits = {}
    for split in SPLITS:
        candidates = [folder / f"{split}{ext}" for ext in FORMATS if (folder / f"{split}{ext}").is_file()]
        if not candidates:
            raise DataError(
                f"No {split} file in {folder}: expected one of {', '.join(split + ext for ext in FORMATS)}."
            )
        splits[split] = read_table(candidates[0])
    return splits


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
