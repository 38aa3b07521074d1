"""The fine-tuning methods: what each trains, how its result is saved, and how it is reloaded.

`peft.method` picks one. The four peft methods wrap the classifier with peft and save an
adapter; `head_only` freezes the encoder and saves the head alone; `full` trains and saves every
weight. Every method trains the task head (the modules `head_modules` names), since the
pretrained checkpoint has none.

A result folder (models/finetuned/) holds the weights, the tokenizer and `method.json`, which
names the method, the base model and the labels, so evaluate, predict and export reload it
without reading params.yaml.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict
from pathlib import Path

import torch
from peft import IA3Config, LoraConfig, PeftModel, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from src.architectures import encoder_of, ensure_pad_token, head_modules, ia3_targets, lora_targets
from src.errors import ModelError
from src.modeling import load_classifier
from src.outputs import atomic_dir, read_json
from src.params import PEFT_METHODS, ModelParams, Params

MANIFEST_FILENAME = "method.json"
# The weights file each kind of result writes; its size is the artefact size in metrics/train.json.
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HEAD_WEIGHTS = "head.safetensors"
FULL_WEIGHTS = "model.safetensors"
TOKENIZER_CONFIG = "tokenizer_config.json"
# Methods whose learned weights fold into the base model's own (`merge_and_unload`, or trivially).
MERGEABLE = ("lora", "ia3", "head_only", "full")


def weights_filename(method: str) -> str:
    if method in PEFT_METHODS:
        return ADAPTER_WEIGHTS
    return HEAD_WEIGHTS if method == "head_only" else FULL_WEIGHTS


def adapt(classifier: PreTrainedModel, params: Params, base_model_name: str) -> torch.nn.Module:
    """Make `classifier` trainable the way `peft.method` says; returns the model to train."""
    method, section, head = params.peft.method, params.method, head_modules(classifier)
    if method == "full":
        return classifier
    if method == "head_only":
        encoder_of(classifier).requires_grad_(False)
        return classifier
    if method == "lora":
        config = LoraConfig(
            r=section.r,
            lora_alpha=section.alpha,
            lora_dropout=section.dropout,
            target_modules=lora_targets(classifier, section.target_modules),
            use_dora=section.use_dora,
            use_rslora=section.use_rslora,
            task_type=TaskType.SEQ_CLS,
            modules_to_save=head,
        )
    elif method == "ia3":
        targets, feedforward = ia3_targets(classifier, section.target_modules, section.feedforward_modules)
        config = IA3Config(
            target_modules=targets, feedforward_modules=feedforward, task_type=TaskType.SEQ_CLS, modules_to_save=head
        )
    else:
        if method == "prefix_tuning" and not _takes_past_key_values(classifier):
            raise ModelError(
                f"prefix_tuning feeds learned keys and values through `past_key_values`, which "
                f"{type(classifier).__name__} ({base_model_name!r}) does not accept. Use prompt_tuning, "
                "lora or ia3 with this model."
            )
        config_class = PromptTuningConfig if method == "prompt_tuning" else PrefixTuningConfig
        config = config_class(
            num_virtual_tokens=section.num_virtual_tokens,
            task_type=TaskType.SEQ_CLS,
            modules_to_save=head,
            **_shape(classifier.config),
        )
    try:
        peft_model = get_peft_model(classifier, config)
    except ValueError as error:  # e.g. target modules that the model does not have
        raise ModelError(f"peft could not apply {method} to {base_model_name!r}: {error}") from error
    # Record the portable name, not the local folder the base was loaded from.
    peft_model.peft_config["default"].base_model_name_or_path = base_model_name
    return peft_model


def _takes_past_key_values(classifier: PreTrainedModel) -> bool:
    """peft passes prefix tuning's keys and values to the classifier, else to its encoder."""
    return any(
        "past_key_values" in inspect.signature(module.forward).parameters
        for module in (classifier, encoder_of(classifier))
    )


def _shape(config) -> dict:
    """The model's width, depth and heads for prompt methods. peft reads them from the config's
    dict under common names, which misses DistilBERT's `dim`/`n_layers`/`n_heads`; the config's
    attribute aliases cover every family."""
    return {
        "token_dim": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
    }


def save_result(model: torch.nn.Module, tokenizer, params: Params, label_names: list[str], out_dir: Path) -> None:
    """Write the trained weights (safetensors), tokenizer and manifest to `out_dir`, all or nothing."""
    method = params.peft.method
    with atomic_dir(out_dir) as tmp:
        if method in PEFT_METHODS or method == "full":
            model.save_pretrained(tmp, safe_serialization=True)
            (tmp / "README.md").unlink(missing_ok=True)  # peft's empty model card; nothing reads it
        else:
            head = head_modules(model)
            state = {k: v.contiguous() for k, v in model.state_dict().items() if k.split(".")[0] in head}
            save_file(state, tmp / HEAD_WEIGHTS, metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        manifest = {"method": method, "model": asdict(params.model), "label_names": label_names}
        (tmp / MANIFEST_FILENAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_manifest(result_dir: Path) -> dict:
    manifest_file = result_dir / MANIFEST_FILENAME
    if not manifest_file.is_file():
        raise ModelError(
            f"No trained model in {result_dir} ({MANIFEST_FILENAME} missing). "
            "Run the train stage first: `dvc repro train`."
        )
    manifest = read_json(manifest_file)
    missing = [name for name in (weights_filename(manifest["method"]), TOKENIZER_CONFIG) if not (result_dir / name).is_file()]
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
    base = ModelParams(**manifest["model"])
    try:
        if method == "full":
            model = AutoModelForSequenceClassification.from_pretrained(result_dir, use_safetensors=True)
        else:
            classifier = load_classifier(base, manifest["label_names"])
            if method == "head_only":
                _load_head(classifier, result_dir / HEAD_WEIGHTS)
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


def _load_head(classifier: PreTrainedModel, path: Path) -> None:
    state = load_file(path)
    expected = {k for k in classifier.state_dict() if k.split(".")[0] in head_modules(classifier)}
    if set(state) != expected:
        raise ValueError(f"{path.name} holds {sorted(state)}, but the model's head is {sorted(expected)}")
    classifier.load_state_dict(state, strict=False)


def merged_model(model: torch.nn.Module, method: str) -> PreTrainedModel:
    """A plain transformers model with the trained weights folded in, for `src.export`."""
    if method not in MERGEABLE:
        raise ModelError(
            f"A {method} result cannot be merged into a standalone model: its virtual tokens are inputs "
            "the base model does not have. Use it with its base model (`python -m src.predict`), or "
            f"train a mergeable method ({', '.join(MERGEABLE)})."
        )
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model
