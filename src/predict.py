"""Classify texts with the trained result in models/finetuned/ (any method) and its base model.

Texts come from the arguments, from a .jsonl or .csv file (`--file`, column `--column`), or one
per line on stdin. Prints each text's label and class probabilities, as a table or as JSON lines.

    python -m src.predict "i feel wonderful today" "this is so unfair"
    python -m src.predict --file tweets.csv --column tweet --json > predictions.jsonl
    cat tweets.txt | python -m src.predict
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from src.core.cli import command_parser, run_command
from src.core.errors import DataError
from src.core.paths import FINETUNED_DIR
from src.data.tables import read_table
from src.model.finetuned import load_result, read_manifest
from src.model.inference import predict_proba

TABLE_TEXT_WIDTH = 48


def read_texts(args: argparse.Namespace) -> list[str]:
    if args.texts and args.file:
        raise DataError("Give texts as arguments or with --file, not both.")
    if args.texts:
        return list(args.texts)
    if args.file:
        return read_text_file(args.file, args.column)
    if sys.stdin.isatty():
        raise DataError(
            'No texts to classify. Give them as arguments (python -m src.predict "some text"), '
            "with --file texts.jsonl|texts.csv, or one per line on stdin."
        )
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise DataError("stdin held no texts (only empty lines); give one text per line.")
    return texts


def read_text_file(path: Path, column: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"--file {path} does not exist.")
    frame = read_table(path, dtype=str)
    if column not in frame.columns:
        raise DataError(
            f"--file {path} has no column {column!r} (columns: {', '.join(map(str, frame.columns))}); "
            "name the text column with --column."
        )
    texts = frame[column].fillna("").astype(str).tolist()
    if not any(text.strip() for text in texts):
        raise DataError(f"--file {path}: column {column!r} holds no texts.")
    return texts


def format_table(texts: list[str], label_names: list[str], probabilities) -> str:
    def clip(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= TABLE_TEXT_WIDTH else text[: TABLE_TEXT_WIDTH - 1] + "…"

    rows = [["text", "label", *label_names]]
    for text, row in zip(texts, probabilities, strict=True):
        rows.append([clip(text), label_names[row.argmax()], *(f"{p:.3f}" for p in row)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def format_json_lines(texts: list[str], label_names: list[str], probabilities) -> str:
    return "\n".join(
        json.dumps(
            {
                "text": text,
                "label": label_names[row.argmax()],
                "probabilities": {name: round(float(p), 6) for name, p in zip(label_names, row, strict=True)},
            },
            ensure_ascii=False,
        )
        for text, row in zip(texts, probabilities, strict=True)
    )


def predict(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise DataError(f"--batch-size is {args.batch_size}; use a whole number >= 1.")
    read_manifest(args.model_dir)  # fail on a missing result before reading a large input
    texts = read_texts(args)
    model, tokenizer, manifest = load_result(args.model_dir)
    probabilities = predict_proba(model, tokenizer, texts, args.batch_size, manifest["model"]["max_length"])
    format_output = format_json_lines if args.json else format_table
    print(format_output(texts, manifest["label_names"], probabilities))


def parser() -> argparse.ArgumentParser:
    parser = command_parser(__doc__)
    parser.add_argument("texts", nargs="*", help="texts to classify (default: --file, or stdin)")
    parser.add_argument("--file", type=Path, help="a .jsonl, .csv or .parquet file of texts")
    parser.add_argument("--column", default="text", help="the text column of --file (default: text)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default: 64)")
    parser.add_argument(
        "--model-dir", type=Path, default=FINETUNED_DIR, help=f"the trained result (default: {FINETUNED_DIR})"
    )
    return parser


def main(argv=None) -> None:
    run_command(predict, parser(), argv)


if __name__ == "__main__":
    main()
