"""Classify texts with the trained result in models/finetuned/ (any method) and its base model,
or with its ONNX export (`--backend onnx` or `onnx-int8`, from `python -m src.export --onnx`).

Texts come from the arguments, from a .jsonl, .csv, .tsv or .parquet file (`--file`, column
`--column`), or one per line on stdin. A model trained on text pairs takes two columns
(`--column premise --column hypothesis`), or the two texts split by a tab. Prints each text's
label and class probabilities (calibrated by the temperature fitted on validation), as a table
or as JSON lines. A multi-label model prints every label whose probability reaches its threshold
(tuned on validation, in method.json), and each label's probability.

    python -m src.predict "i feel wonderful today" "this is so unfair"
    python -m src.predict --file tweets.csv --column tweet --json > predictions.jsonl
    cat tweets.txt | python -m src.predict
    python -m src.predict --backend onnx-int8 "i feel wonderful today"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from src.core.cli import command_parser, run_command
from src.core.errors import DataError, ModelError
from src.core.files import read_json
from src.core.paths import FINETUNED_DIR, ONNX_DIR
from src.data.tables import read_table
from src.model.backends import BACKENDS, ONNX_MANIFEST, load_backend
from src.model.finetuned import read_manifest

TABLE_TEXT_WIDTH = 48


def read_texts(args: argparse.Namespace, pair: bool) -> tuple[list[str], list[str] | None]:
    """(texts, second texts or None). A model trained on text pairs reads two columns of --file,
    or two texts split by a tab in each argument or stdin line."""
    if args.texts and args.file:
        raise DataError("Give texts as arguments or with --file, not both.")
    if args.file:
        columns = args.column or (["text", "text_pair"] if pair else ["text"])
        if len(columns) != (2 if pair else 1):
            raise DataError(
                f"The model reads {'text pairs' if pair else 'single texts'}: give --column "
                f"{'twice (--column premise --column hypothesis)' if pair else 'once'}."
            )
        return read_text_file(args.file, columns)
    if args.texts:
        lines = list(args.texts)
    elif sys.stdin.isatty():
        raise DataError(
            'No texts to classify. Give them as arguments (python -m src.predict "some text"), '
            "with --file texts.jsonl|texts.csv, or one per line on stdin."
        )
    else:
        lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not lines:
            raise DataError("stdin held no texts (only empty lines); give one text per line.")
    if not pair:
        return lines, None
    split = [line.split("\t", 1) for line in lines]
    if any(len(parts) != 2 for parts in split):
        raise DataError("The model reads text pairs: give each as 'first text<TAB>second text'.")
    return [parts[0] for parts in split], [parts[1] for parts in split]


def read_text_file(path: Path, columns: list[str]) -> tuple[list[str], list[str] | None]:
    if not path.is_file():
        raise DataError(f"--file {path} does not exist.")
    frame = read_table(path, dtype=str)
    for column in columns:
        if column not in frame.columns:
            raise DataError(
                f"--file {path} has no column {column!r} (columns: {', '.join(map(str, frame.columns))}); "
                "name the text column with --column."
            )
    texts = [frame[column].fillna("").astype(str).tolist() for column in columns]
    if not any(text.strip() for text in texts[0]):
        raise DataError(f"--file {path}: column {columns[0]!r} holds no texts.")
    return texts[0], texts[1] if len(texts) == 2 else None


def chosen_labels(decisions, label_names: list[str]) -> list[str | list[str]]:
    """Each text's label (one name), or for a multi-label model its labels (a list of names)."""
    names = np.asarray(label_names)
    return [str(names[row]) if np.ndim(row) == 0 else names[np.flatnonzero(row)].tolist() for row in decisions]


def format_table(texts: list[str], label_names: list[str], probabilities, labels: list) -> str:
    def clip(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= TABLE_TEXT_WIDTH else text[: TABLE_TEXT_WIDTH - 1] + "…"

    several = bool(labels) and isinstance(labels[0], list)
    rows = [["text", "labels" if several else "label", *label_names]]
    for text, chosen, row in zip(texts, labels, probabilities, strict=True):
        shown = (", ".join(chosen) or "(none)") if several else chosen
        rows.append([clip(text), shown, *(f"{p:.3f}" for p in row)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def format_json_lines(texts: list[str], label_names: list[str], probabilities, labels: list, pairs=None) -> str:
    return "\n".join(
        json.dumps(
            {
                "text": text,
                **({"text_pair": pairs[i]} if pairs is not None else {}),
                ("labels" if isinstance(labels[i], list) else "label"): labels[i],
                "probabilities": {name: round(float(p), 6) for name, p in zip(label_names, row, strict=True)},
            },
            ensure_ascii=False,
        )
        for i, (text, row) in enumerate(zip(texts, probabilities, strict=True))
    )


def predict(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise DataError(f"--batch-size is {args.batch_size}; use a whole number >= 1.")
    # Fail on a missing model before reading a large input.
    if args.backend == "pytorch":
        pair = read_manifest(args.model_dir or FINETUNED_DIR).get("text_pair", False)
    else:
        folder = args.model_dir or ONNX_DIR
        if not (folder / ONNX_MANIFEST).is_file():
            raise ModelError(f"No ONNX export in {folder}: write it with `python -m src.export --onnx`.")
        pair = read_json(folder / ONNX_MANIFEST)["text_pair"]
    texts, pairs = read_texts(args, pair)
    backend = load_backend(args.backend, args.model_dir)
    probabilities = backend.predict(texts, pairs, args.batch_size, desc="predict")
    labels = chosen_labels(backend.decide(probabilities), backend.label_names)
    if args.json:
        print(format_json_lines(texts, backend.label_names, probabilities, labels, pairs))
    else:
        shown = texts if pairs is None else [f"{a} | {b}" for a, b in zip(texts, pairs, strict=True)]
        print(format_table(shown, backend.label_names, probabilities, labels))


def parser() -> argparse.ArgumentParser:
    parser = command_parser(__doc__)
    parser.add_argument("texts", nargs="*", help="texts to classify (default: --file, or stdin)")
    parser.add_argument("--file", type=Path, help="a .jsonl, .csv or .parquet file of texts")
    parser.add_argument(
        "--column",
        action="append",
        help="the text column of --file (default: text); twice for a model trained on text pairs",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default: 64)")
    parser.add_argument(
        "--backend",
        choices=list(BACKENDS),
        default="pytorch",
        help="pytorch runs the trained result; onnx and onnx-int8 its export (default: pytorch)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help=f"the trained result (default: {FINETUNED_DIR}), or with an onnx backend the export ({ONNX_DIR})",
    )
    return parser


def main(argv=None) -> None:
    run_command(predict, parser(), argv)


if __name__ == "__main__":
    main()
