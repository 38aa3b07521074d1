"""Reading one table of rows from a file: jsonl, csv or parquet, chosen by the file's suffix.

The one reader for datasets (src/data/sources.py) and for the texts `src.predict` classifies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src.core.errors import DataError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


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
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise DataError(f"{path}, line {line}, is not valid UTF-8; save the file as UTF-8.") from None
    try:
        if kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        elif kind == "csv":
            # Keep "NA" or "None" as text; only truly empty cells count as missing.
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dtype)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; it needs a header and at least one row.") from None
    except ValueError as error:
        raise DataError(f"{path} could not be read as {kind}: {error}") from None
    if frame.empty:
        raise DataError(f"{path} has no rows; it needs at least one labelled text.")
    return frame
