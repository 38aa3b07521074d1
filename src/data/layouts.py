"""Where each split's rows are in a local dataset folder, laid out as datasets are published, and
reading them into one frame per split.

A split is looked for under each of its names (`SPLIT_NAMES`, or the one `data.splits` gives), in
this order, the first hit winning:

1. a file `<name>.<suffix>` (jsonl, json, csv, tsv, parquet, txt), as today;
2. the Hub's shards, `data/<name>-*.<suffix>` or `<name>-*-of-*.<suffix>`, read in sorted order
   and concatenated (label names from the `datasets` features the Hub writes into parquet files);
3. parallel line files, `<name>_text.txt` and `<name>_labels.txt` (TweetEval), label names from
   a `mapping.txt` beside them;
4. a folder `<name>/` with a subfolder per class, one text per file (aclImdb, 20 Newsgroups):
   the label is the subfolder's name; unlabelled subfolders (`unsup`) are skipped and logged.

A split still missing is the one file or class folder whose name has the split's word in it
(`r8-train-all-terms.txt`, `news.training.txt`, `20news-bydate-test/`), when there is exactly one.
A train split still missing is the dataset folder itself when it is a folder of class folders
(BBC News). `data.splits` may also name a file, a glob or a folder directly, or {text, label}
line files. Every other way in fails with one line that names the setting to use.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from src.core.errors import DataError
from src.data.tables import FORMATS, decode, read_table

if TYPE_CHECKING:
    from src.core.params import ReadParams

log = logging.getLogger(__name__)

# The names a split goes by, in the order they are looked for.
SPLIT_NAMES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev", "eval"),
    "test": ("test",),
}
# The words that mark a file as a split's when its name is not one of SPLIT_NAMES.
SPLIT_WORDS = {
    "train": {"train", "training"},
    "validation": {"validation", "valid", "val", "dev", "eval"},
    "test": {"test", "testing"},
}
# Subfolders of a folder per class that hold unlabelled texts (aclImdb's train/unsup).
UNLABELLED_FOLDERS = {"unsup", "unsupervised", "unlabeled", "unlabelled", "unlabel"}
MAPPING_FILE = "mapping.txt"
GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class SplitFiles:
    kind: str  # "table" (one file, or shards concatenated), "lines" (texts, labels) or "folders"
    paths: tuple[Path, ...]
    origin: str  # what metrics/data.json and the log say the rows came from


def locate_splits(folder: Path, names: dict, read: ReadParams) -> dict[str, SplitFiles]:
    """{split: where its rows are} for the splits `folder` has; train is required."""
    found: dict[str, SplitFiles] = {}
    for split, usual in SPLIT_NAMES.items():
        if split in names and names[split] is None:
            continue  # null: carve it
        if split in names:
            found[split] = _named(folder, split, names[split], read)
            continue
        hit = next((files for name in usual if (files := _by_name(folder, name, read)) is not None), None)
        hit = hit or _by_word(folder, split, taken=found.values())
        if hit is None and split == "train" and _class_folders(folder, minimum=2):
            hit = SplitFiles("folders", (folder,), "the dataset folder (a folder per class)")
        if hit is not None:
            found[split] = hit
        elif split == "train":
            raise DataError(
                f"No train data in {folder}: looked for train.<jsonl|json|csv|tsv|parquet|txt>, Hub shards "
                "data/train-*.parquet, train_text.txt with train_labels.txt, a train/ folder with a folder "
                f"per class, and one file or folder named like *train*. It holds: {_listing(folder)}. Name "
                "the train file, glob or folder in data.splits.train (docs/DATASETS.md, 'Your files as published')."
            )
    for split, files in found.items():
        log.info("%-10s from %s (%s)", split, files.origin, files.kind)
    return found


def read_split(
    files: SplitFiles, read: ReadParams, text_columns: list[str], label_column: str | list[str]
) -> tuple[pd.DataFrame, list[str] | None]:
    """The rows of one split, and the label names its files carry (or None)."""
    label_columns = [label_column] if isinstance(label_column, str) else list(label_column)
    if files.kind == "table":
        required = [*text_columns, *label_columns]
        frames = [read_table(path, read=read, required=required) for path in files.paths]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return frame, _parquet_label_names(files.paths[0], label_columns[0]) if len(label_columns) == 1 else None
    if len(label_columns) != 1:
        raise DataError(
            f"{files.origin} holds one label per text, but data.label_column names 0/1 columns ({label_columns}); "
            "0/1 label columns need a table file (csv, tsv, jsonl, parquet)."
        )
    if len(text_columns) != 1:
        raise DataError(
            f"{files.origin} holds one text per row, but data.text_column names a pair ({text_columns}); "
            "text pairs need a table file (csv, tsv, jsonl, parquet)."
        )
    if files.kind == "lines":
        return _read_lines(*files.paths, read, text_columns[0], label_column)
    return _read_class_folders(files.paths[0], read, text_columns[0], label_column), None


# --------------------------------------------------------------------------- finding


def _named(folder: Path, split: str, name: str | dict, read: ReadParams) -> SplitFiles:
    """The split data.splits names: line files, a glob, a folder, a file, or a name to look up."""
    if isinstance(name, dict):
        paths = tuple(_inside(folder, name[key], split) for key in ("text", "label"))
        return SplitFiles("lines", paths, f"{name['text']} + {name['label']}")
    if GLOB_CHARACTERS & set(name):
        shards = tuple(sorted(path for path in folder.glob(name) if path.is_file()))
        if not shards:
            raise DataError(f"data.splits.{split} is {name!r}, which matches no file in {folder}.")
        return _table(folder, shards, name)
    path = folder / name
    if path.is_dir():
        if read.format not in ("auto", "folders") or not _class_folders(path, minimum=1):
            raise DataError(
                f"data.splits.{split} names the folder {path}, which holds no folder per class "
                "(one text per file). Name a file or glob instead."
            )
        return SplitFiles("folders", (path,), f"{name}/ (a folder per class)")
    if path.is_file():
        if read.format == "lines":
            labels = _labels_beside(path, split)
            return SplitFiles("lines", (path, labels), f"{name} + {labels.name}")
        return _table(folder, (path,), name)
    files = _by_name(folder, name, read)
    if files is None:
        raise DataError(
            f"No {split} file in {folder}: data.splits.{split} is {name!r}, but there is no such file, folder "
            f"or glob match, nor {name}.<jsonl|json|csv|tsv|parquet|txt>. It holds: {_listing(folder)}."
        )
    return files


def _by_name(folder: Path, name: str, read: ReadParams) -> SplitFiles | None:
    for suffix in FORMATS:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            if read.format == "lines":
                return SplitFiles("lines", (path, _labels_beside(path, name)), path.name)
            return _table(folder, (path,), path.name)
    for pattern in (f"data/{name}-*", f"{name}-*-of-*"):
        shards = tuple(sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in FORMATS))
        if shards:
            return _table(folder, shards, pattern + shards[0].suffix)
    texts, labels = folder / f"{name}_text.txt", folder / f"{name}_labels.txt"
    if texts.is_file() and labels.is_file():
        return SplitFiles("lines", (texts, labels), f"{texts.name} + {labels.name}")
    if (folder / name).is_dir() and _class_folders(folder / name, minimum=1):
        return SplitFiles("folders", (folder / name,), f"{name}/ (a folder per class)")
    return None


def _by_word(folder: Path, split: str, taken) -> SplitFiles | None:
    """The one file (readable suffix) or class folder whose name has the split's word in it."""
    used = {path for files in taken for path in files.paths}
    candidates = []
    for path in sorted(folder.iterdir()):
        words = set(re.split(r"[^a-z0-9]+", path.stem.lower() if path.is_file() else path.name.lower()))
        if not words & SPLIT_WORDS[split] or path in used:
            continue
        if path.is_file() and path.suffix.lower() in FORMATS:
            candidates.append(_table(folder, (path,), path.name))
        elif path.is_dir() and _class_folders(path, minimum=1):
            candidates.append(SplitFiles("folders", (path,), f"{path.name}/ (a folder per class)"))
    if len(candidates) > 1:
        shown = ", ".join(files.origin for files in candidates)
        raise DataError(
            f"Several files in {folder} could be the {split} split ({shown}); name the right one in "
            f"data.splits.{split}."
        )
    if candidates:
        log.info("%s split: %s, found by its name", split, candidates[0].origin)
    return candidates[0] if candidates else None


def _class_folders(folder: Path, minimum: int) -> list[Path]:
    """The subfolders of `folder` that are classes: each holds files and no folders. Empty unless
    there are at least `minimum` of them and every subfolder is one."""
    subfolders = [path for path in sorted(folder.iterdir()) if path.is_dir() and not path.name.startswith(".")]
    classes = [path for path in subfolders if _holds_only_files(path)]
    return classes if len(classes) >= minimum and len(classes) == len(subfolders) else []


def _holds_only_files(folder: Path) -> bool:
    entries = [path for path in folder.iterdir() if not path.name.startswith(".")]
    return bool(entries) and all(path.is_file() for path in entries)


def _table(folder: Path, paths: tuple[Path, ...], shown: str) -> SplitFiles:
    origin = shown if len(paths) == 1 else f"{shown} ({len(paths)} files)"
    return SplitFiles("table", paths, origin)


def _inside(folder: Path, name: str, split: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataError(f"data.splits.{split} names {name!r}, which is not a file in {folder}.")
    return path


def _labels_beside(texts: Path, split: str) -> Path:
    """The labels file of a line file of texts: its name with text(s) turned into labels."""
    for name in (texts.name.replace("texts", "labels"), texts.name.replace("text", "labels")):
        if name != texts.name and (texts.parent / name).is_file():
            return texts.parent / name
    raise DataError(
        f"data.read.format is lines, but no labels file was found beside {texts.name} (looked for its name with "
        f"'text' turned into 'labels'). Name both in data.splits.{split} as {{text: ..., label: ...}}."
    )


def _listing(folder: Path, shown: int = 12) -> str:
    entries = [path.name + ("/" if path.is_dir() else "") for path in sorted(folder.iterdir())]
    more = f", ... ({len(entries) - shown} more)" if len(entries) > shown else ""
    return (", ".join(entries[:shown]) + more) or "nothing"


# --------------------------------------------------------------------------- reading


def _read_lines(
    texts: Path, labels: Path, read: ReadParams, text_column: str, label_column: str
) -> tuple[pd.DataFrame, list[str] | None]:
    """Texts and labels in two files, one a line, the n-th label belonging to the n-th text."""
    text_lines, label_lines = (_lines(path, read.encoding) for path in (texts, labels))
    if len(text_lines) != len(label_lines):
        raise DataError(
            f"{texts.name} has {len(text_lines):,} lines but {labels.name} has {len(label_lines):,}; each text "
            "needs the label on the same line number of the other file."
        )
    frame = pd.DataFrame({text_column: text_lines, label_column: [label.strip() for label in label_lines]})
    if frame[label_column].str.fullmatch(r"-?\d+").all():
        frame[label_column] = frame[label_column].astype(int)
    mapping = texts.parent / MAPPING_FILE
    return frame, _mapping(mapping, read.encoding) if mapping.is_file() else None


def _lines(path: Path, encoding: str) -> list[str]:
    """The lines of a text file: split at newlines only (a text may hold other Unicode breaks)."""
    lines = decode(path, encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


@functools.cache  # every split's line files share one mapping.txt: read and log it once
def _mapping(path: Path, encoding: str) -> list[str]:
    """Label names by id from a mapping file: `<id><TAB><name>` lines, or one name a line."""
    pairs = [line.split(None, 1) for line in _lines(path, encoding) if line.strip()]
    if all(len(pair) == 2 and pair[0].isdigit() for pair in pairs):
        names = {int(number): name.strip() for number, name in pairs}
    else:
        names = dict(enumerate(" ".join(pair) for pair in pairs))
    log.info("label names from %s: %s", path.name, ", ".join(names.values()))
    return [names.get(i, str(i)) for i in range(max(names) + 1)]


def _read_class_folders(folder: Path, read: ReadParams, text_column: str, label_column: str) -> pd.DataFrame:
    """One row per file of each class subfolder (scikit-learn's load_files), label = subfolder name."""
    from sklearn.datasets import load_files

    classes = [path.name for path in _class_folders(folder, minimum=1)]
    skipped = [name for name in classes if name.lower() in UNLABELLED_FOLDERS]
    for name in skipped:
        count = sum(1 for _ in (folder / name).iterdir())
        log.info("skipped %s/ (%d files): an unlabelled folder, not a class", folder / name, count)
    labelled = [name for name in classes if name not in skipped]
    if len(labelled) < 1:
        raise DataError(f"{folder} has no class folders with texts (only {', '.join(skipped)}).")
    bunch = load_files(str(folder), categories=labelled, load_content=False, shuffle=False)
    kept = [
        (path, target)
        for path, target in zip(bunch.filenames, bunch.target, strict=True)
        if not Path(path).name.startswith(".")
    ]
    texts = [decode(Path(path), read.encoding) for path, _ in kept]
    names = [bunch.target_names[target] for _, target in kept]
    return pd.DataFrame({text_column: texts, label_column: names})


def _parquet_label_names(path: Path, label_column: str) -> list[str] | None:
    """The class names the Hub's `datasets` features (kept in a parquet file's metadata) give the label."""
    if path.suffix.lower() != ".parquet":
        return None
    import datasets
    import pyarrow.parquet as pq

    try:
        features = datasets.Features.from_arrow_schema(pq.read_schema(path))
    except Exception:  # no or foreign metadata: the labels are named by their values
        return None
    feature = features.get(label_column)
    feature = getattr(feature, "feature", feature)  # a list of labels per row: List(ClassLabel(...))
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
