"""Reading one table of rows from a file: jsonl, csv, tsv or parquet, chosen by the file's suffix.

The one reader for datasets (src/data/sources.py) and for the texts `src.predict` classifies.
Text files may start with a byte-order mark; a csv or tsv may use any of the common delimiters
(sniffed from its start); a broken jsonl line is named by its number.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from src.core.errors import DataError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
DELIMITERS = ",\t;|"
SNIFF_BYTES = 64 * 1024


def read_table(path: Path, dtype: type | None = None) -> pd.DataFrame:
    """Rows of `path`; a file that is not UTF-8, cannot be parsed or has no rows is an error.

    `dtype=str` reads every csv cell as text (as written), for files of texts to classify.
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: use a file ending in {', '.join(FORMATS)}.")
    if kind != "parquet":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise DataError(f"{path}, line {line}, is not valid UTF-8; save the file as UTF-8.") from None
    try:
        if kind == "jsonl":
            frame = _read_jsonl(path, text)
        elif kind == "csv":
            frame = _read_delimited(path, text, dtype)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; it needs a header and at least one row.") from None
    except ValueError as error:
        raise DataError(f"{path} could not be read as {kind}: {error}") from None
    if frame.empty:
        raise DataError(f"{path} has no rows; it needs at least one labelled text.")
    return frame


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_json(path, lines=True, dtype=False, encoding="utf-8-sig")
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


def _read_delimited(path: Path, text: str, dtype: type | None) -> pd.DataFrame:
    """A csv or tsv: the suffix's usual delimiter if the header line has it, else one sniffed
    from the first lines (`;` and `|` are common in exports)."""
    sample = text[:SNIFF_BYTES]
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    if delimiter not in sample.split("\n", 1)[0]:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
        except csv.Error:
            pass  # one column, or nothing to tell by: keep the usual one
    return pd.read_csv(
        path,
        sep=delimiter,
        encoding="utf-8-sig",
        # Keep "NA" or "None" as text; only truly empty cells count as missing.
        keep_default_na=False,
        na_values=[""],
        dtype=dtype,
        # Tab-separated corpora (GLUE) use quote characters as text, not as field quotes.
        quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL,
    )
