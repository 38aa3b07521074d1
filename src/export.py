"""Export the trained result as a standalone transformers model folder.

LoRA and IA3 weights are folded into the base model's own (`merge_and_unload`); a head_only or
full result is written as the whole model it already is. The folder then needs neither peft nor
this project: `transformers.pipeline("text-classification", model=folder)` loads it. Before
finishing, the export loads the folder through that pipeline and checks it predicts what the
unmerged result predicts. Prompt and prefix tuning add virtual tokens the base model has no
place for, so they cannot be merged; the command says so.

    python -m src.export                     # models/finetuned -> models/merged
    python -m src.export --out /tmp/my-model
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from transformers import pipeline

from src.core.cli import command_parser, run_command
from src.core.errors import ModelError
from src.core.files import atomic_dir
from src.core.paths import EXPORT_DIR, FINETUNED_DIR, prepared_split_file
from src.data.prepared import read_prepared, text_inputs
from src.model.finetuned import load_result, merged_model
from src.model.inference import predict_proba

log = logging.getLogger("export")

CHECK_TEXTS = 64
# Merging changes the order of float operations, not the function; probabilities agree to ~1e-6.
CHECK_TOLERANCE = 1e-4
FALLBACK_TEXTS = ["i feel wonderful today", "i am so angry at this", "i miss you so much", "that was a scary night"]


def check_texts(pair: bool) -> tuple[list[str], list[str] | None]:
    """Some prepared test texts (or pairs) if the pipeline has run, else a few examples."""
    if prepared_split_file("test").is_file():
        return text_inputs(read_prepared("test").head(CHECK_TEXTS))
    return FALLBACK_TEXTS, FALLBACK_TEXTS[::-1] if pair else None


def pipeline_probabilities(
    folder: Path, texts: list[str], pairs: list[str] | None, label_names: list[str]
) -> np.ndarray:
    classify = pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
    inputs = texts if pairs is None else [{"text": a, "text_pair": b} for a, b in zip(texts, pairs, strict=True)]
    scores = classify(inputs, batch_size=16, truncation=True)
    return np.array([[{s["label"]: s["score"] for s in row}[name] for name in label_names] for row in scores])


def export(args: argparse.Namespace) -> None:
    model, tokenizer, manifest = load_result(args.model_dir)
    label_names, max_length = manifest["label_names"], manifest["model"]["max_length"]
    texts, pairs = check_texts(manifest.get("text_pair", False))
    expected = predict_proba(
        model,
        tokenizer,
        texts,
        batch_size=16,
        max_length=max_length,
        desc="check: unmerged",
        device=torch.device("cpu"),
        pairs=pairs,
    )
    merged = merged_model(model, manifest["method"])
    with atomic_dir(args.out) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.model_max_length = max_length  # the pipeline truncates where training did
        tokenizer.save_pretrained(tmp)
        got = pipeline_probabilities(tmp, texts, pairs, label_names)
        difference = float(np.abs(got - expected).max())
        same_labels = bool((got.argmax(axis=1) == expected.argmax(axis=1)).all())
        if difference > CHECK_TOLERANCE or not same_labels:
            raise ModelError(
                f"The merged model disagrees with the {manifest['method']} result (largest probability "
                f"difference {difference:.2g}); nothing was written to {args.out}."
            )
    log.info(
        "exported the %s result to %s; checked on %d texts through transformers.pipeline: same labels, "
        "largest probability difference %.1e",
        manifest["method"],
        args.out,
        len(texts),
        difference,
    )


def parser() -> argparse.ArgumentParser:
    parser = command_parser(__doc__)
    parser.add_argument("--out", type=Path, default=EXPORT_DIR, help=f"the folder to write (default: {EXPORT_DIR})")
    parser.add_argument(
        "--model-dir", type=Path, default=FINETUNED_DIR, help=f"the trained result (default: {FINETUNED_DIR})"
    )
    return parser


def main(argv=None) -> None:
    run_command(export, parser(), argv)


if __name__ == "__main__":
    main()
