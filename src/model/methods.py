"""The fine-tuning methods, one spec each: the registry every other part derives from.

A `Method` holds what the rest of the pipeline needs to know about a method: its section of
params.yaml (validated by src/core/params.py), its title in the report, what it trains and how
its result is saved, whether it merges into the base model, and how to build its peft config.
src/model/finetuned.py adapts, saves and reloads any of them from the spec; the report, compare
and the README's table read the titles from it. Adding a method means adding its section and
spec here, and a test; the README's table of methods is printed by
`python -m src.presentation.markdown`.

The peft config builders import peft when called, not here: params validation imports this
registry, and the torch-free stages (prepare, classical, report) must not pay for torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from src.core.errors import ModelError, ParamsError
from src.core.rules import boolean, module_names, number, rule, whole
from src.model.families import encoder_of, ia3_targets, lora_targets

# What a result folder holds, by `Method.saves`: peft's adapter (with the head in it), the
# head's weights alone, or the whole model. The file's size is the artefact size in metrics/train.json.
WEIGHTS_FILES = {
    "adapter": "adapter_model.safetensors",
    "head": "head.safetensors",
    "model": "model.safetensors",
}


@dataclass(frozen=True)
class Method:
    name: str  # peft.method's value, and the name of its params.yaml section
    title: str  # in the report, compare's table and plots
    trains: str  # what it trains, for the README
    params: type  # its params.yaml section: a frozen dataclass whose fields carry their rules
    # (classifier, section, head module names) -> a peft config; None for the non-peft references.
    peft_config: Callable[[Any, Any, list[str]], Any] | None = None
    saves: str = "adapter"  # a key of WEIGHTS_FILES
    freezes_encoder: bool = False  # head_only: a linear probe
    mergeable: bool = True  # its weights fold into the base model's own (`src.export`)

    @property
    def weights_file(self) -> str:
        return WEIGHTS_FILES[self.saves]

    @property
    def example(self) -> str:
        """A `dvc exp run` that tries it, for the README."""
        return f"dvc exp run -S peft.method={self.name}"


# --------------------------------------------------------------------------- LoRA


@dataclass(frozen=True)
class LoraParams:
    """params.yaml `lora`: a low-rank update B @ A of rank r beside each targeted weight."""

    learning_rate: float = rule(number(above=0))
    r: int = rule(whole(minimum=1))
    # The update is scaled by alpha / r: doubling r at the same alpha halves each direction's step.
    alpha: float = rule(number(above=0))
    dropout: float = rule(number(at_least=0, below=1))
    # `auto` picks modules per architecture (src/model/families.py); `all-linear` is peft's keyword.
    target_modules: str | list[str] = rule(module_names("auto", "all-linear"))
    use_dora: bool = rule(boolean)  # weight-decomposed LoRA (DoRA)
    use_rslora: bool = rule(boolean)  # rank-stabilised scaling: alpha / sqrt(r) instead of alpha / r
    # Only the top N encoder layers get adapters, so the backward pass stops below them.
    top_layers: int | None = rule(whole(minimum=1, nullable=True))


def top_layer_indices(classifier, top_layers: int | None) -> list[int] | None:
    """The indices of the top `top_layers` layers of the encoder; None for every layer."""
    if top_layers is None:
        return None
    count = classifier.config.num_hidden_layers
    if top_layers > count:
        raise ParamsError(
            f"params.yaml: lora.top_layers is {top_layers}, but the model has {count} layers; "
            f"use a number from 1 to {count}, or null for every layer."
        )
    return list(range(count - top_layers, count))


def _lora_config(classifier, section: LoraParams, head: list[str]):
    from peft import LoraConfig, TaskType

    return LoraConfig(
        layers_to_transform=top_layer_indices(classifier, section.top_layers),
        r=section.r,
        lora_alpha=section.alpha,
        lora_dropout=section.dropout,
        target_modules=lora_targets(classifier, section.target_modules),
        use_dora=section.use_dora,
        use_rslora=section.use_rslora,
        task_type=TaskType.SEQ_CLS,
        modules_to_save=head,
    )


# --------------------------------------------------------------------------- IA3


@dataclass(frozen=True)
class Ia3Params:
    learning_rate: float = rule(number(above=0))
    target_modules: str | list[str] = rule(module_names("auto"))
    feedforward_modules: str | list[str] = rule(module_names("auto"))  # a subset of target_modules

    def __post_init__(self):
        both = (self.target_modules, self.feedforward_modules)
        if (both[0] == "auto") != (both[1] == "auto"):
            raise ParamsError(
                "params.yaml: ia3.target_modules and ia3.feedforward_modules must both be auto or both be "
                f"lists (got {both[0]!r} and {both[1]!r}); IA3 needs to know which targets are feed-forward."
            )
        if both[0] != "auto" and not set(both[1]) <= set(both[0]):
            raise ParamsError(
                f"params.yaml: ia3.feedforward_modules {both[1]} must all be in ia3.target_modules {both[0]}."
            )


def _ia3_config(classifier, section: Ia3Params, head: list[str]):
    from peft import IA3Config, TaskType

    targets, feedforward = ia3_targets(classifier, section.target_modules, section.feedforward_modules)
    return IA3Config(
        target_modules=targets, feedforward_modules=feedforward, task_type=TaskType.SEQ_CLS, modules_to_save=head
    )


# --------------------------------------------------------------------------- prompt and prefix tuning


@dataclass(frozen=True)
class VirtualTokenParams:
    learning_rate: float = rule(number(above=0))
    num_virtual_tokens: int = rule(whole(minimum=1))


def _shape(config) -> dict:
    """The model's width, depth and heads for prompt methods. peft reads them from the config's
    dict under common names, which misses DistilBERT's `dim`/`n_layers`/`n_heads`; the config's
    attribute aliases cover every family."""
    return {
        "token_dim": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
    }


def _virtual_token_config(config_name: str, classifier, section: VirtualTokenParams, head: list[str]):
    import peft

    config_class = getattr(peft, config_name)
    return config_class(
        num_virtual_tokens=section.num_virtual_tokens,
        task_type=peft.TaskType.SEQ_CLS,
        modules_to_save=head,
        **_shape(classifier.config),
    )


def _prompt_tuning_config(classifier, section: VirtualTokenParams, head: list[str]):
    return _virtual_token_config("PromptTuningConfig", classifier, section, head)


def _prefix_tuning_config(classifier, section: VirtualTokenParams, head: list[str]):
    # peft passes prefix tuning's keys and values to the classifier, else to its encoder.
    takes_prefix = any(
        "past_key_values" in inspect.signature(module.forward).parameters
        for module in (classifier, encoder_of(classifier))
    )
    if not takes_prefix:
        raise ModelError(
            f"prefix_tuning feeds learned keys and values through `past_key_values`, which "
            f"{type(classifier).__name__} ({classifier.name_or_path!r}) does not accept. Use "
            "prompt_tuning, lora or ia3 with this model."
        )
    return _virtual_token_config("PrefixTuningConfig", classifier, section, head)


# --------------------------------------------------------------------------- the references


@dataclass(frozen=True)
class RateOnlyParams:
    learning_rate: float = rule(number(above=0))


# --------------------------------------------------------------------------- the registry

# In params.yaml order. Every method also trains the task head, which the checkpoint lacks.
METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            name="lora",
            title="LoRA",
            trains="low-rank updates of the encoder's linear layers; `lora.use_dora` (DoRA) and "
            "`lora.use_rslora` (rank-stabilised scaling) are its variants",
            params=LoraParams,
            peft_config=_lora_config,
        ),
        Method(
            name="ia3",
            title="IA3",
            trains="one learned rescaling vector per key, value and feed-forward output",
            params=Ia3Params,
            peft_config=_ia3_config,
        ),
        Method(
            name="prompt_tuning",
            title="prompt tuning",
            trains="`prompt_tuning.num_virtual_tokens` learned embeddings put before each text",
            params=VirtualTokenParams,
            peft_config=_prompt_tuning_config,
            mergeable=False,  # virtual tokens are inputs the base model has no place for
        ),
        Method(
            name="prefix_tuning",
            title="prefix tuning",
            trains="learned keys and values before each layer's attention (needs a model that takes "
            "`past_key_values`: BERT, RoBERTa, GPT-2; not DistilBERT or MPNet)",
            params=VirtualTokenParams,
            peft_config=_prefix_tuning_config,
            mergeable=False,
        ),
        Method(
            name="head_only",
            title="head only, encoder frozen",
            trains="the classification head only; the encoder is frozen (a linear probe)",
            params=RateOnlyParams,
            saves="head",
            freezes_encoder=True,
        ),
        Method(
            name="full",
            title="full fine-tuning",
            trains="every weight",
            params=RateOnlyParams,
            saves="model",
        ),
    )
}
