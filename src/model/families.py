"""What differs between model families: module names to adapt, the head, and the pad token.

This is the one place that knows family names; it imports no torch, so the method registry
(and through it params validation) can use it in the torch-free stages.

peft names target modules by the suffix of their path, and those names differ per family (BERT's
`query`, DistilBERT's `q_lin`, MPNet's `q`, GPT-2's fused `c_attn`). `target_modules: auto`
resolves through `FAMILIES`, keyed by the config's `model_type`. A family missing here still
works with LoRA (peft's `all-linear`) or with module names given in params.yaml.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from src.core.errors import ModelError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    # Every linear layer of the encoder blocks (attention and feed-forward): LoRA's `auto`. Suffixes
    # such as `output.dense` keep the head's own `dense` layers (RoBERTa, MPNet) out.
    block_linear: tuple[str, ...]
    # IA3's targets and which of them are feed-forward (peft's own defaults where it has them).
    ia3_targets: tuple[str, ...]
    ia3_feedforward: tuple[str, ...]


_BERT_LIKE = Family(
    block_linear=("query", "key", "value", "intermediate.dense", "output.dense"),
    ia3_targets=("key", "value", "output.dense"),
    ia3_feedforward=("output.dense",),
)

FAMILIES = {
    # BERT and MiniLM; `pooler.dense` too, because BERT classifies from the pooled [CLS] vector.
    "bert": Family(
        block_linear=(*_BERT_LIKE.block_linear, "pooler.dense"),
        ia3_targets=_BERT_LIKE.ia3_targets,
        ia3_feedforward=_BERT_LIKE.ia3_feedforward,
    ),
    "roberta": _BERT_LIKE,
    "distilbert": Family(
        block_linear=("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"),
        ia3_targets=("k_lin", "v_lin", "lin2"),
        ia3_feedforward=("lin2",),
    ),
    "mpnet": Family(
        block_linear=("attn.q", "attn.k", "attn.v", "attn.o", "intermediate.dense", "output.dense"),
        ia3_targets=("attn.k", "attn.v", "output.dense"),
        ia3_feedforward=("output.dense",),
    ),
    # GPT-2's layers are Conv1D with transposed weights; peft detects that and sets fan_in_fan_out.
    "gpt2": Family(
        block_linear=("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"),
        ia3_targets=("c_attn", "mlp.c_proj"),
        ia3_feedforward=("mlp.c_proj",),
    ),
}


def family_of(model: PreTrainedModel) -> Family | None:
    return FAMILIES.get(model.config.model_type)


def lora_targets(model: PreTrainedModel, target_modules: str | list[str]) -> str | list[str]:
    """`auto` -> the family's block linear layers, or peft's `all-linear` for an unlisted family."""
    if target_modules != "auto":
        return target_modules
    family = family_of(model)
    if family is None:
        log.info("no module table for model type %r; LoRA targets peft's all-linear", model.config.model_type)
        return "all-linear"
    return list(family.block_linear)


def ia3_targets(model: PreTrainedModel, target_modules, feedforward_modules) -> tuple[list[str], list[str]]:
    if target_modules != "auto":
        return list(target_modules), list(feedforward_modules)
    family = family_of(model)
    if family is None:
        raise ModelError(
            f"ia3.target_modules is auto, but there is no module table for model type "
            f"{model.config.model_type!r} (known: {', '.join(sorted(FAMILIES))}). Set ia3.target_modules "
            "and ia3.feedforward_modules to lists of module names."
        )
    return list(family.ia3_targets), list(family.ia3_feedforward)


def head_modules(model: PreTrainedModel) -> list[str]:
    """Names of the task head's top-level modules: every child with weights except the encoder.

    These are freshly initialised for the task, so every method trains and saves them
    (BERT `classifier`; DistilBERT `pre_classifier` and `classifier`; GPT-2 `score`).
    """
    return [
        name
        for name, child in model.named_children()
        if name != model.base_model_prefix and any(True for _ in child.parameters())
    ]


def encoder_of(model: PreTrainedModel) -> torch.nn.Module:
    return getattr(model, model.base_model_prefix)


def ensure_pad_token(tokenizer, model: PreTrainedModel | None = None) -> None:
    """Give tokenizers without a pad token (GPT-2) their end-of-text token as pad, and tell the
    model, which pools at the last token that is not padding.

    Padding stays on the right: GPT-2's learned positions would shift under left padding and
    change the logits of a padded text.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelError("The tokenizer has neither a pad token nor an end-of-text token to pad with.")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    if model is not None and model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
