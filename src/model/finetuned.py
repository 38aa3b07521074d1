"""The fine-tuned result of any method: adapting a classifier, saving it, reloading it, merging it.

What differs per method comes from its spec in src/model/methods.py: a peft method wraps the
classifier with its peft config and saves an adapter; `head_only` freezes the encoder and saves
the head alone; `full` trains and saves every weight. Every method trains the task head (the
modules `head_modules` names), since the pretrained checkpoint has none.

A result folder (models/finetuned/) holds the weights, the tokenizer and `method.json`, which
names the method, the base model and the labels, so evaluate, predict and export reload it
without reading params.yaml.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from src.core.errors import ModelError
from src.core.files import atomic_dir, read_json, write_json
from src.core.params import ModelParams
from src.model.families import encoder_of, ensure_pad_token, head_modules
from src.model.methods import METHODS
from src.model.pretrained import load_classifier
from src.scoring.tasks import TASKS

# On every save peft asks the Hub for the base model's config, to see whether the vocabulary was
# resized; offline it cannot, and warns in every train log. This pipeline never resizes it.
warnings.filterwarnings("ignore", message="Could not find a config file in .* the vocabulary was not modified")

MANIFEST_FILENAME = "method.json"
TOKENIZER_CONFIG = "tokenizer_config.json"


def adapt(classifier: PreTrainedModel, method: str, section, base_model_name: str) -> torch.nn.Module:
    """Make `classifier` trainable the way `method` says (with its params `section`); returns the model to train."""
    spec = METHODS[method]
    if spec.peft_config is None:
        if spec.freezes_encoder:
            encoder_of(classifier).requires_grad_(False)
        return classifier
    config = spec.peft_config(classifier, section, head_modules(classifier))
    try:
        peft_model = get_peft_model(classifier, config)
    except ValueError as error:  # e.g. target modules that the model does not have
        raise ModelError(f"peft could not apply {method} to {base_model_name!r}: {error}") from error
    # Record the portable name, not the local folder the base was loaded from.
    peft_model.peft_config["default"].base_model_name_or_path = base_model_name
    return peft_model


def save_result(
    model: torch.nn.Module,
    tokenizer,
    method: str,
    base: ModelParams,
    label_names: list[str],
    out_dir: Path,
    text_pair: bool = False,
    temperature: float = 1.0,
    training: dict | None = None,
    task: str = "single_label",
    thresholds: list[float] | None = None,
) -> None:
    """Write the trained weights (safetensors), tokenizer and manifest to `out_dir`, all or nothing.

    The manifest says whether the model reads text pairs, so predict asks for two texts, and
    holds the temperature fitted on validation, which evaluate, predict and export divide the
    logits by, and `training` (dataset and params), which the model card shows. A multi-label
    result also records its task and each label's threshold, tuned on validation, which
    evaluate, predict and export decide with."""
    with atomic_dir(out_dir) as tmp:
        if METHODS[method].saves == "head":
            head = head_modules(model)
            state = {k: v.contiguous() for k, v in model.state_dict().items() if k.split(".")[0] in head}
            save_file(state, tmp / METHODS[method].weights_file, metadata={"format": "pt"})
        else:
            model.save_pretrained(tmp, safe_serialization=True)
            (tmp / "README.md").unlink(missing_ok=True)  # peft's empty model card; nothing reads it
        tokenizer.save_pretrained(tmp)
        manifest = {"method": method, "model": asdict(base), "label_names": label_names, "temperature": temperature}
        if text_pair:
            manifest["text_pair"] = True
        if task != "single_label":
            manifest["task"] = task
        if thresholds is not None:
            manifest["thresholds"] = dict(zip(label_names, thresholds, strict=True))
        if training:
            manifest["training"] = training
        write_json(tmp / MANIFEST_FILENAME, manifest)


def read_manifest(result_dir: Path) -> dict:
    manifest_file = result_dir / MANIFEST_FILENAME
    if not manifest_file.is_file():
        raise ModelError(
            f"No trained model in {result_dir} ({MANIFEST_FILENAME} missing). "
            "Run the train stage first: `dvc repro train`."
        )
    manifest = read_json(manifest_file)
    expected = (METHODS[manifest["method"]].weights_file, TOKENIZER_CONFIG)
    missing = [name for name in expected if not (result_dir / name).is_file()]
    if missing:
        raise ModelError(
            f"The trained model in {result_dir} is incomplete ({', '.join(missing)} missing). "
            "Retrain it: `dvc repro --force train`."
        )
    return manifest


def load_result(result_dir: Path):
    """Reload a trained result the way a user would; returns (model in eval mode, tokenizer, manifest).

    peft methods: the base model, then `PeftModel.from_pretrained`. head_only: the base model,
    then the saved head. full: `from_pretrained` on the folder itself.
    """
    manifest = read_manifest(result_dir)
    method = manifest["method"]
    saves = METHODS[method].saves
    try:
        if saves == "model":
            model = AutoModelForSequenceClassification.from_pretrained(result_dir, use_safetensors=True)
        else:
            classifier = load_classifier(
                ModelParams(**manifest["model"]), manifest["label_names"], TASKS[task_of(manifest)].problem_type
            )
            if saves == "head":
                _load_head(classifier, result_dir / METHODS[method].weights_file)
                model = classifier
            else:
                model = PeftModel.from_pretrained(classifier, result_dir)
        tokenizer = AutoTokenizer.from_pretrained(result_dir)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as error:
        reason = " ".join(str(error).split())  # one line: the stages print errors as one
        raise ModelError(
            f"The {method} result in {result_dir} could not be loaded ({type(error).__name__}: {reason}). "
            "It may be corrupt or from another base model; retrain it with `dvc repro --force train`."
        ) from error
    ensure_pad_token(tokenizer, model)
    model.eval()
    return model, tokenizer, manifest


def task_of(manifest: dict) -> str:
    """single_label or multi_label: results saved before multi-label data name no task."""
    return manifest.get("task", "single_label")


def thresholds_of(manifest: dict) -> list[float] | None:
    """A multi-label result's thresholds in label order; None for a single-label one."""
    thresholds = manifest.get("thresholds")
    return None if thresholds is None else [thresholds[name] for name in manifest["label_names"]]


def _load_head(classifier: PreTrainedModel, path: Path) -> None:
    state = load_file(path)
    expected = {k for k in classifier.state_dict() if k.split(".")[0] in head_modules(classifier)}
    if set(state) != expected:
        raise ValueError(f"{path.name} holds {sorted(state)}, but the model's head is {sorted(expected)}")
    classifier.load_state_dict(state, strict=False)


def fold_temperature(model: PreTrainedModel, temperature: float) -> None:
    """Divide the head's output layer by `temperature`, so the plain model's softmax gives the
    calibrated probabilities that predict gives, without knowing about the temperature."""
    head = model.get_submodule(head_modules(model)[-1])
    outputs = [
        m for m in head.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels
    ]
    if not outputs:
        raise ModelError(f"Found no output layer of {model.config.num_labels} classes in the head to calibrate.")
    with torch.no_grad():
        outputs[-1].weight /= temperature
        if outputs[-1].bias is not None:
            outputs[-1].bias /= temperature


def shift_output_bias(model: torch.nn.Module, offsets) -> None:
    """Add `offsets` (one per label) to the bias of the trained output layer: the last trainable
    linear layer with one output per label (under peft, the head's trained copy)."""
    offsets = torch.as_tensor(offsets, dtype=torch.float32)
    layers = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.Linear)
        and m.out_features == len(offsets)
        and m.bias is not None
        and m.bias.requires_grad
    ]
    if not layers:
        raise ModelError(f"Found no trained output layer of {len(offsets)} labels to shift.")
    with torch.no_grad():
        layers[-1].bias += offsets.to(layers[-1].bias.device, layers[-1].bias.dtype)


def merged_model(model: torch.nn.Module, method: str) -> PreTrainedModel:
    """A plain transformers model with the trained weights folded in, for `src.export`."""
    check_mergeable(method)
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model


def check_mergeable(method: str) -> None:
    if not METHODS[method].mergeable:
        mergeable = ", ".join(name for name, spec in METHODS.items() if spec.mergeable)
        raise ModelError(
            f"A {method} result cannot be merged into a standalone model: its virtual tokens are inputs "
            "the base model does not have. Use it with its base model (`python -m src.predict`), or "
            f"train a mergeable method ({mergeable})."
        )
