"""Export the trained result as a standalone transformers model folder.

LoRA and IA3 weights are folded into the base model's own (`merge_and_unload`); a head_only or
full result is written as the whole model it already is. The folder then needs neither peft nor
this project: `transformers.pipeline("text-classification", model=folder)` loads it. The
temperature fitted on validation is folded into the head's output layer, so the pipeline gives
the same calibrated probabilities as `python -m src.predict`. Before
finishing, the export loads the folder through that pipeline and checks it predicts what the
unmerged result predicts. A multi-label model's config says `problem_type:
multi_label_classification`, the check applies a sigmoid, and the thresholds tuned on validation
go in thresholds.json and the card. Prompt and prefix tuning add virtual tokens the base model has no
place for, so they cannot be merged; the command says so.

With `--adapter`, the peft adapter itself is exported instead (to models/adapter): small, and
loaded on its base model with `AutoPeftModelForSequenceClassification`. Either folder gets a
README.md model card in the Hugging Face Hub's format (src/presentation/model_card.py), with the
test scores and intervals of this project's last `dvc repro`, and `--push-to-hub USER/NAME`
uploads it as is (`--dry-run` lists what would be uploaded and sends nothing).

    python -m src.export                     # models/finetuned -> models/merged
    python -m src.export --out /tmp/my-model
    python -m src.export --adapter --push-to-hub me/emotion-lora
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import numpy as np
import torch
from transformers import pipeline

from src.core.cli import command_parser, run_command
from src.core.errors import ModelError
from src.core.files import atomic_dir, read_json, write_json
from src.core.hub import hub_reachable, unreachable_hint
from src.core.paths import (
    ADAPTER_EXPORT_DIR,
    DATA_SUMMARY_FILE,
    EXPORT_DIR,
    FINETUNED_DIR,
    SIGNIFICANCE_FILE,
    TRAIN_METRICS_FILE,
    evaluation_metrics_file,
    prepared_split_file,
)
from src.data.prepared import read_prepared, text_inputs
from src.model.finetuned import fold_temperature, load_result, merged_model, task_of, thresholds_of
from src.model.inference import predict_proba
from src.model.methods import METHODS
from src.presentation.model_card import model_card
from src.scoring.tasks import TASKS

log = logging.getLogger("export")

CHECK_TEXTS = 64
# Merging changes the order of float operations, not the function; probabilities agree to ~1e-6.
CHECK_TOLERANCE = 1e-4
# A multi-label export's thresholds, label -> threshold, beside its config.json.
THRESHOLDS_FILE = "thresholds.json"
FALLBACK_TEXTS = ["i feel wonderful today", "i am so angry at this", "i miss you so much", "that was a scary night"]


def check_texts(pair: bool) -> tuple[list[str], list[str] | None]:
    """Some prepared test texts (or pairs) if the pipeline has run, else a few examples."""
    if prepared_split_file("test").is_file():
        return text_inputs(read_prepared("test").head(CHECK_TEXTS))
    return FALLBACK_TEXTS, FALLBACK_TEXTS[::-1] if pair else None


def pipeline_probabilities(
    folder: Path, texts: list[str], pairs: list[str] | None, label_names: list[str], function_to_apply: str = "softmax"
) -> np.ndarray:
    classify = pipeline(
        "text-classification", model=str(folder), top_k=None, device="cpu", function_to_apply=function_to_apply
    )
    inputs = texts if pairs is None else [{"text": a, "text_pair": b} for a, b in zip(texts, pairs, strict=True)]
    scores = classify(inputs, batch_size=16, truncation=True)
    return np.array([[{s["label"]: s["score"] for s in row}[name] for name in label_names] for row in scores])


def evidence() -> dict:
    """This project's metric files that the model card reports, as far as they exist."""
    files = {
        **{name: evaluation_metrics_file(name) for name in ("baseline", "classical", "finetuned")},
        "significance": SIGNIFICANCE_FILE,
        "data": DATA_SUMMARY_FILE,
        "train": TRAIN_METRICS_FILE,
    }
    return {name: read_json(path) for name, path in files.items() if path.is_file()}


def export(args: argparse.Namespace) -> None:
    if args.dry_run and not args.push_to_hub:
        raise ModelError("--dry-run lists what --push-to-hub would upload; give --push-to-hub USER/NAME too.")
    out = args.out or (ADAPTER_EXPORT_DIR if args.adapter else EXPORT_DIR)
    model, tokenizer, manifest = load_result(args.model_dir)
    if args.adapter and METHODS[manifest["method"]].saves != "adapter":
        raise ModelError(
            f"--adapter exports a peft adapter, but the result in {args.model_dir} is a {manifest['method']} "
            "model with none; export it merged (without --adapter)."
        )
    label_names, max_length = manifest["label_names"], manifest["model"]["max_length"]
    temperature = manifest.get("temperature", 1.0)
    task, thresholds = TASKS[task_of(manifest)], thresholds_of(manifest)
    texts, pairs = check_texts(manifest.get("text_pair", False))

    def calibrated(model, tokenizer, desc: str) -> np.ndarray:
        return predict_proba(
            model,
            tokenizer,
            texts,
            batch_size=16,
            max_length=max_length,
            desc=desc,
            device=torch.device("cpu"),
            pairs=pairs,
            temperature=temperature,
            task=task.name,
        )

    expected = calibrated(model, tokenizer, "check: unmerged")
    kind = "adapter" if args.adapter else "merged"
    with atomic_dir(out) as tmp:
        if args.adapter:
            for path in args.model_dir.iterdir():
                if path.is_file():
                    shutil.copy2(path, tmp / path.name)
            reloaded, reloaded_tokenizer, _ = load_result(tmp)
            got = calibrated(reloaded, reloaded_tokenizer, "check: adapter")
            checked_by = "reloading it with peft"
        else:
            merged = merged_model(model, manifest["method"])
            fold_temperature(merged, temperature)
            merged.save_pretrained(tmp, safe_serialization=True)
            tokenizer.model_max_length = max_length  # the pipeline truncates where training did
            tokenizer.save_pretrained(tmp)
            if thresholds is not None:  # the decisions the pipeline's scores need: config.json cannot say them
                write_json(tmp / THRESHOLDS_FILE, manifest["thresholds"])
            got = pipeline_probabilities(tmp, texts, pairs, label_names, task.function_to_apply)
            checked_by = "transformers.pipeline"
        difference = float(np.abs(got - expected).max())
        same_labels = bool((task.decide(got, thresholds) == task.decide(expected, thresholds)).all())
        if difference > CHECK_TOLERANCE or not same_labels:
            raise ModelError(
                f"The exported {kind} model disagrees with the {manifest['method']} result (largest probability "
                f"difference {difference:.2g}); nothing was written to {out}."
            )
        model_card(manifest, kind, args.push_to_hub, evidence()).save(tmp / "README.md")
    log.info(
        "exported the %s result (%s) with its model card to %s; checked on %d texts through %s: same labels, "
        "largest probability difference %.1e",
        manifest["method"],
        kind,
        out,
        len(texts),
        checked_by,
        difference,
    )
    if args.push_to_hub:
        push_to_hub(out, args.push_to_hub, private=args.private, dry_run=args.dry_run)


def push_to_hub(folder: Path, repo_id: str, private: bool, dry_run: bool) -> list[str]:
    """Upload `folder` to the Hub model repository `repo_id` (created if missing); returns the
    files uploaded, or that would be with `dry_run`, which sends nothing."""
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    if dry_run:
        print(f"would upload {len(files)} files from {folder} to https://huggingface.co/{repo_id}:")
        print("\n".join(f"  {name}" for name in files))
        return files
    if not hub_reachable():
        raise ModelError(
            f"{unreachable_hint()}: nothing was uploaded. The export in {folder} is complete; push it later."
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="Upload a loraflow export")
    except HfHubHTTPError as error:
        raise ModelError(
            f"The Hub refused the upload to {repo_id} ({' '.join(str(error).split())}). Log in with "
            "`hf auth login` or set HF_TOKEN to a token with write access."
        ) from error
    log.info("uploaded %d files to https://huggingface.co/%s", len(files), repo_id)
    return files


def parser() -> argparse.ArgumentParser:
    parser = command_parser(__doc__)
    parser.add_argument(
        "--out", type=Path, help=f"the folder to write (default: {EXPORT_DIR}, or {ADAPTER_EXPORT_DIR} with --adapter)"
    )
    parser.add_argument("--adapter", action="store_true", help="export the peft adapter, not a merged model")
    parser.add_argument("--push-to-hub", metavar="USER/NAME", help="upload the exported folder to this Hub repository")
    parser.add_argument("--private", action="store_true", help="create the Hub repository private")
    parser.add_argument("--dry-run", action="store_true", help="with --push-to-hub: list what would be uploaded")
    parser.add_argument(
        "--model-dir", type=Path, default=FINETUNED_DIR, help=f"the trained result (default: {FINETUNED_DIR})"
    )
    return parser


def main(argv=None) -> None:
    run_command(export, parser(), argv)


if __name__ == "__main__":
    main()
