"""Reading one table of rows from a file: jsonl, csv, tsv, parquet, or a delimited .txt.

The one reader for dataset files (src/data/layouts.py) and for the texts `src.predict` classifies.
The format comes from the suffix unless `data.read.format` names it; text files are decoded
with `data.read.encoding` (UTF-8 may start with a byte-order mark; a list of encodings is tried in
order per file); a delimited file uses
`data.read.delimiter`, or the suffix's usual one when its first line has it, or one sniffed from
its start. A first line that is clearly a data row (a number, a sentence, or a label that recurs
below it) is read as data, not as a header (`data.read.header` decides when set). A broken jsonl
line is named by its number.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from src.core.errors import DataError

if TYPE_CHECKING:
    from src.core.params import ReadParams

log = logging.getLogger(__name__)

FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "csv",  # a delimited text file; its delimiter is sniffed
}
DELIMITERS = ",\t;|@"
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 200
# A header cell longer than this, or with this many spaces, is a sentence: the line is data.
SENTENCE_CHARS, SENTENCE_SPACES = 60, 5
# Rows read to decide whether the first line is a header.
HEADER_SAMPLE_ROWS = 500


def read_table(
    path: Path, dtype: type | None = None, read: ReadParams | None = None, required: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows of `path`; a file that cannot be decoded or parsed, or has no rows, is an error.

    `dtype=str` reads every csv cell as text (as written), for files of texts to classify.
    `required` are the columns the caller needs: a headerless file gets them by name (from
    `read.columns`, or guessed where the roles are plain, and logged).
    """
    kind = _kind(path, read)
    text = None if kind == "parquet" else decode(path, read.encoding if read else "utf-8")
    try:
        if kind == "jsonl":
            frame = _read_jsonl(path, text)
        elif kind in ("csv", "tsv"):
            frame = _read_delimited(path, text, kind, dtype, read, required)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; it needs a header and at least one row.") from None
    except pd.errors.ParserError as error:
        raise DataError(
            f"{path} could not be read as {kind}: {error}. If a text holds the delimiter, quote it, or "
            "set data.read.delimiter to the one the file uses."
        ) from None
    except ValueError as error:
        raise DataError(f"{path} could not be read as {kind}: {error}") from None
    if frame.empty:
        raise DataError(f"{path} has no rows; it needs at least one labelled text.")
    return frame


def _kind(path: Path, read: ReadParams | None) -> str:
    if read is not None and read.format in ("csv", "tsv", "jsonl", "parquet"):
        return read.format
    kind = FORMATS.get(path.suffix.lower())
    if read is None and path.suffix.lower() == ".txt":  # texts to classify: one a line comes on stdin
        raise DataError(
            f"{path}: use a file ending in .jsonl, .json, .csv, .tsv or .parquet; for one text a line, "
            "pipe the file on standard input."
        )
    if kind is None:
        raise DataError(
            f"{path}: the suffix {path.suffix or '(none)'!r} does not say how to read it. Use a file ending "
            f"in {', '.join(FORMATS)}, or set data.read.format (csv, tsv, jsonl or parquet)."
        )
    return kind


def decode(path: Path, encoding: str | list[str]) -> str:
    """The text of `path` in `encoding`, or in the first of a list of encodings that decodes it
    (UTF-8 may start with a byte-order mark)."""
    raw = path.read_bytes()
    names = encoding if isinstance(encoding, list) else [encoding]
    for number, name in enumerate(names):
        codec = "utf-8-sig" if name.lower().replace("_", "-") in ("utf-8", "utf8") else name
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as error:
            failed = error
            continue
        if number:
            log.info("%s is not valid %s: read as %s", path, " or ".join(names[:number]), name)
        return text
    line = raw[: failed.start].count(b"\n") + 1
    raise DataError(
        f"{path}, line {line}, is not valid {' or '.join(n.upper() if n.lower() == 'utf-8' else n for n in names)}. "
        "Set data.read.encoding to the file's encoding "
        "(e.g. latin-1, cp1252), or to a list tried in order per file (e.g. [utf-8, latin-1]), or save the "
        "file as UTF-8."
    ) from None


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_json(io.StringIO(text), lines=True, dtype=False)
    except ValueError:
        pass
    # pandas names a character offset; find the line a person can open.
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}, line {number}, is not valid JSON ({error.msg}); fix or remove that line."
                ) from None
    raise DataError(f"{path} could not be read as jsonl: every line must be one JSON object.")


def _read_delimited(
    path: Path, text: str, kind: str, dtype: type | None, read: ReadParams | None, required: Sequence[str]
) -> pd.DataFrame:
    """A csv, tsv or delimited .txt, with or without a header line."""
    delimiter = _delimiter(path, text, kind, read)
    options = dict(
        sep=delimiter,
        # Keep "NA" or "None" as text; only truly empty cells count as missing.
        keep_default_na=False,
        na_values=[""],
        # Tab-, @- and other-separated corpora use quote characters as text, not as field quotes.
        quoting=csv.QUOTE_MINIMAL if delimiter in ",;|" else csv.QUOTE_NONE,
    )
    header = read.header if read is not None else True  # files to classify (src.predict) have a header
    columns = read.columns if read is not None else None
    if header == "auto":
        header = not (columns or _first_line_is_data(text, options, required))
    if header:
        frame = pd.read_csv(io.StringIO(text), dtype=dtype, **options)
        if columns:
            frame = _named(path, frame, columns)
        return frame
    frame = pd.read_csv(io.StringIO(text), header=None, dtype=str if dtype is None else dtype, **options)
    frame = frame.apply(_numbers_where_all_are)
    if columns:
        return _named(path, frame, columns)
    return _guess_roles(path, frame, required)


def _delimiter(path: Path, text: str, kind: str, read: ReadParams | None) -> str:
    if read is not None and read.delimiter != "auto":
        return read.delimiter
    if read is not None and read.format == "tsv":
        return "\t"
    usual = "\t" if kind == "tsv" else ","
    sample = text[:SNIFF_BYTES]
    # A .csv (.tsv) whose first line has a comma (tab) uses it; a .txt has no usual delimiter.
    if path.suffix.lower() != ".txt" and usual in sample.split("\n", 1)[0]:
        return usual
    found = sniff_delimiter(sample)
    if found is None:
        if path.suffix.lower() == ".txt":
            raise DataError(
                f"{path}: no delimiter between a text and its label could be found. Set "
                "data.read.delimiter (e.g. tab, ',' or '@'), or, for one text a line with the labels in "
                "another file, name both in data.splits as {text: ..., label: ...}."
            ) from None
        return usual  # one column, or nothing to tell by
    return found


def sniff_delimiter(sample: str) -> str | None:
    """The delimiter that occurs the same number of times (one or more) on the most lines of
    `sample`, if that is at least 90% of them.

    csv.Sniffer prefers a comma whenever the first lines have one each, which picks the comma
    inside Financial PhraseBank's sentences over the `@` before every label.
    """
    lines = [line for line in sample.split("\n")[:-1] or sample.split("\n") if line.strip()][:SNIFF_LINES]
    best, best_share = None, 0.0
    for candidate in DELIMITERS:
        counts = pd.Series([line.count(candidate) for line in lines])
        mode = counts.mode()
        if not lines or mode.empty or mode.iloc[0] == 0:
            continue
        share = float((counts == mode.iloc[0]).mean())
        if share > best_share:
            best, best_share = candidate, share
    return best if best_share >= 0.9 else None


def _first_line_is_data(text: str, options: dict, required: Sequence[str]) -> bool:
    """Whether the first line reads as a row of data rather than column names.

    A header holds the columns the caller needs; where it lacks them, its first line is data when
    a cell is a number, a sentence, or a value that recurs in a column of few distinct values
    below it (a label).
    """
    try:
        sample = pd.read_csv(io.StringIO(text), header=None, nrows=HEADER_SAMPLE_ROWS, dtype=str, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return False  # the full read says what is wrong
    first = [str(cell) for cell in sample.iloc[0]]
    if required and all(name in first for name in required):
        return False
    below = sample.iloc[1:]
    for position, cell in enumerate(first):
        rest = below[position].dropna()
        if _is_number(cell) or len(cell) > SENTENCE_CHARS or cell.count(" ") >= SENTENCE_SPACES:
            return True
        if len(rest) and rest.nunique() <= max(2, len(rest) // 2) and cell in set(rest):
            return True
    return False


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _numbers_where_all_are(column: pd.Series) -> pd.Series:
    """A headerless file's column read as text, made numeric when every cell is a number."""
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column


def _named(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    if len(columns) != frame.shape[1]:
        raise DataError(
            f"{path} has {frame.shape[1]} columns, but data.read.columns names {len(columns)} "
            f"({', '.join(columns)}); name every column, in order."
        )
    return frame.set_axis(list(columns), axis=1)


def _guess_roles(path: Path, frame: pd.DataFrame, required: Sequence[str]) -> pd.DataFrame:
    """Name a headerless file's columns when `required` is a text and a label column and the roles
    are plain: the text is the column of the longest cells, the label the other column with the
    fewest distinct values (and at most half as many as rows)."""
    positions = list(frame.columns)
    if len(required) != 2 or len(positions) < 2:
        raise DataError(
            f"{path} has no header line (its first line is a data row). Name its columns with "
            "data.read.columns, e.g. [text, label, id]."
        )
    text_name, label_name = required
    lengths = {p: frame[p].astype(str).str.len().mean() for p in positions}
    text_at = max(positions, key=lengths.get)
    distinct = {p: frame[p].nunique() for p in positions if p != text_at}
    label_at = min(distinct, key=distinct.get)
    ties = [p for p in distinct if distinct[p] == distinct[label_at]]
    if len(ties) > 1 or distinct[label_at] > len(frame) / 2:
        raise DataError(
            f"{path} has no header line (its first line is a data row), and which column holds the "
            "label is not plain. Name its columns with data.read.columns, e.g. [text, label, id]."
        )
    names = {p: f"column_{p + 1}" for p in positions}
    names.update({text_at: text_name, label_at: label_name})
    log.info(
        "%s has no header line (its first line is a data row): reading column %d as %r and column %d as %r "
        "(data.read.columns names them)",
        path.name,
        text_at + 1,
        text_name,
        label_at + 1,
        label_name,
    )
    return frame.rename(columns=names)
