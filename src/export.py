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

With `--onnx`, the merged model is written for ONNX Runtime instead (to models/onnx): model.onnx,
and with `export.onnx.int8` a dynamically quantised model_int8.onnx, tuned for
`export.onnx.int8_target` (auto: this CPU). Every variant is scored on the prepared test split
beside the PyTorch result (headline scores, the share of rows whose prediction changed, the
largest probability difference) in export.json and the card; a variant that loses more than
`export.onnx.max_accuracy_drop` points is flagged loudly. `python -m src.predict --backend` and
`python -m src.serve` run them (docs/SERVING.md).

With `--adapter`, the peft adapter itself is exported instead (to models/adapter): small, and
loaded on its base model with `AutoPeftModelForSequenceClassification`. Either folder gets a
README.md model card in the Hugging Face Hub's format (src/presentation/model_card.py), with the
test scores and intervals of this project's last `dvc repro`, and `--push-to-hub USER/NAME`
uploads it as is (`--dry-run` lists what would be uploaded and sends nothing).

    python -m src.export                     # models/finetuned -> models/merged
    python -m src.export --out /tmp/my-model
    python -m src.export --adapter --push-to-hub me/emotion-lora
    python -m src.export --onnx              # models/finetuned -> models/onnx (fp32 and int8)
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
from src.core.errors import DataError, ModelError
from src.core.files import atomic_dir, read_json, write_json
from src.core.hub import hub_reachable, unreachable_hint
from src.core.params import Params
from src.core.paths import (
    ADAPTER_EXPORT_DIR,
    DATA_SUMMARY_FILE,
    EXPORT_DIR,
    FINETUNED_DIR,
    ONNX_DIR,
    SIGNIFICANCE_FILE,
    TRAIN_METRICS_FILE,
    evaluation_metrics_file,
    prepared_split_file,
)
from src.data.prepared import read_prepared, text_inputs
from src.model.backends import BACKENDS, ONNX_MANIFEST, agreement, headline_scores, load_backend
from src.model.finetuned import (
    check_mergeable,
    fold_temperature,
    load_result,
    merged_model,
    read_manifest,
    task_of,
    thresholds_of,
)
from src.model.inference import predict_proba
from src.model.methods import METHODS
from src.model.onnx_export import INT8_TARGETS, export_onnx, quantize_int8, this_cpu_target
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
    if args.onnx and args.adapter:
        raise ModelError("--onnx writes the merged model for ONNX Runtime; an adapter cannot be; drop one of them.")
    if args.onnx:
        return export_onnx_folder(args)
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


def export_onnx_folder(args: argparse.Namespace) -> None:
    settings = Params.load().export.onnx
    target = args.int8_target or settings.int8_target
    target = this_cpu_target() if target == "auto" else target
    if not prepared_split_file("test").is_file():  # before any work: the scores need it
        raise DataError(
            f"{prepared_split_file('test')} does not exist: the ONNX export scores every variant on the prepared "
            "test split. Run `dvc repro` first."
        )
    out = args.out or ONNX_DIR
    check_mergeable(read_manifest(args.model_dir)["method"])
    test = read_prepared("test")
    texts, pairs = text_inputs(test)
    reference = load_backend("pytorch", args.model_dir)
    expected = reference.predict(texts, pairs, batch_size=64, desc="score: pytorch")
    model, tokenizer, manifest = load_result(args.model_dir)
    merged = merged_model(model, manifest["method"])
    fold_temperature(merged, manifest.get("temperature", 1.0))
    variants = ["onnx", "onnx-int8"] if settings.int8 else ["onnx"]
    with atomic_dir(out) as tmp:
        tokenizer.model_max_length = manifest["model"]["max_length"]
        tokenizer.save_pretrained(tmp)
        merged.config.save_pretrained(tmp)
        log.info("export: writing %s", BACKENDS["onnx"])
        inputs = export_onnx(merged, tokenizer, tmp, manifest.get("text_pair", False))
        if settings.int8:
            log.info("export: quantising to int8 for %s", target)
            quantize_int8(tmp, target)
        record = {
            "method": manifest["method"],
            "base_model": manifest["model"]["name"],
            "label_names": reference.label_names,
            "task": reference.task,
            "thresholds": reference.thresholds,
            "max_length": reference.max_length,
            "text_pair": reference.text_pair,
            "temperature_folded": manifest.get("temperature", 1.0),
            "inputs": inputs,
            "int8_target": target if settings.int8 else None,
        }
        write_json(tmp / ONNX_MANIFEST, record)
        scores = {"pytorch": headline_scores(reference, test, expected)}
        for name in variants:
            backend = load_backend(name, tmp)
            got = backend.predict(texts, pairs, batch_size=64, desc=f"score: {name}")
            scores[name] = headline_scores(backend, test, got) | agreement(backend, got, expected)
            first = TASKS[reference.task].headline[0]
            scores[name]["drop_points"] = 100 * (scores["pytorch"][first] - scores[name][first])
        record["test_rows"] = len(test)
        record["max_accuracy_drop"] = settings.max_accuracy_drop
        record["scores"] = scores
        write_json(tmp / ONNX_MANIFEST, record)
        model_card(manifest, "onnx", None, evidence(), onnx=record).save(tmp / "README.md")
    for name in variants:
        entry = scores[name]
        log.info(
            "export: %s test %s (pytorch %s); %.2f%% of %d predictions changed, largest probability difference %.1e",
            name,
            ", ".join(f"{key} {entry[key]:.4f}" for key in TASKS[reference.task].headline),
            ", ".join(f"{key} {scores['pytorch'][key]:.4f}" for key in TASKS[reference.task].headline),
            100 * entry["changed_share"],
            len(test),
            entry["max_probability_difference"],
        )
        if entry["drop_points"] > settings.max_accuracy_drop:
            log.warning(
                "\n!!! export: %s loses %.2f points of test %s against pytorch, more than "
                "export.onnx.max_accuracy_drop (%.2f). Serve the onnx (fp32) model, or try another "
                "export.onnx.int8_target. !!!\n",
                name,
                entry["drop_points"],
                TASKS[reference.task].headline[0],
                settings.max_accuracy_drop,
            )
    log.info("export: wrote %s (%s) with export.json and a model card", out, ", ".join(variants))


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
    parser.add_argument(
        "--onnx", action="store_true", help=f"write ONNX Runtime models, fp32 and int8 (default: {ONNX_DIR})"
    )
    parser.add_argument(
        "--int8-target",
        choices=["auto", *INT8_TARGETS],
        help="with --onnx: the instruction set int8 is tuned for (default: export.onnx.int8_target)",
    )
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
