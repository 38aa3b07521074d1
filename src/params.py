"""params.yaml, read into one typed, validated object that every stage shares.

Each section of params.yaml maps to a frozen dataclass, and each field carries the rule its value
must follow. `Params.load()` checks every key of every section before a stage loads data or a
model, so a typo costs seconds: the error names the key, the bad value and what is allowed, and
an unknown key gets a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from src.errors import ParamsError
from src.paths import PARAMS_FILE, SPLITS

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LAUNCHERS = ("python", "torchrun", "accelerate")
# How the train stage adapts the model: four peft methods, then the two reference points
# (a linear probe on the frozen encoder, and every weight trained). Each has its own section.
PEFT_METHODS = ("lora", "ia3", "prompt_tuning", "prefix_tuning")
METHODS = (*PEFT_METHODS, "head_only", "full")
# `auto` picks modules per architecture (src/architectures.py); `all-linear` is peft's keyword.
TARGET_MODULE_KEYWORDS = ("auto", "all-linear")

# --------------------------------------------------------------------------- rules
# A rule takes (full key, value) and returns the value to use, or raises ParamsError.

Rule = Callable[[str, Any], Any]


def _bad(key: str, value: Any, allowed: str) -> ParamsError:
    return ParamsError(f"params.yaml: {key} is {value!r}; {allowed}.")


def whole(minimum: int | None = None, nullable: bool = False) -> Rule:
    allowed = "use a whole number" + (f" >= {minimum}" if minimum is not None else "") + (", or null" if nullable else "")

    def check(key: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
            raise _bad(key, value, allowed)
        return value

    return check


def number(above: float | None = None, at_least: float | None = None, below: float | None = None) -> Rule:
    bounds = [f"> {above}" if above is not None else "", f">= {at_least}" if at_least is not None else "", f"< {below}" if below is not None else ""]
    allowed = "use a number " + " and ".join(b for b in bounds if b) if any(bounds) else "use a number"

    def check(key: str, value: Any) -> Any:
        # PyYAML reads 1e-3 (no dot) as a string; accept it rather than fail on notation.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _bad(key, value, allowed) from None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise _bad(key, value, allowed)
        if (above is not None and value <= above) or (at_least is not None and value < at_least) or (below is not None and value >= below):
            raise _bad(key, value, allowed)
        return value

    return check


def one_of(*choices: str) -> Rule:
    def check(key: str, value: Any) -> Any:
        if value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _bad(key, value, f"use one of {', '.join(choices)}{hint}")
        return value

    return check


def text(key: str, value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise _bad(key, value, "use a non-empty string")
    return value


def texts(key: str, value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise _bad(key, value, "use a list of non-empty strings (or [])")
    return value


def boolean(key: str, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _bad(key, value, "use true or false")
    return value


def module_names(*keywords: str) -> Rule:
    allowed = f"use {' or '.join(keywords)}, or a non-empty list of module names such as [query, value]"

    def check(key: str, value: Any) -> Any:
        if isinstance(value, str) and value in keywords:
            return value
        if isinstance(value, list) and value and all(isinstance(item, str) and item.strip() for item in value):
            return value
        raise _bad(key, value, allowed)

    return check


target_modules = module_names(*TARGET_MODULE_KEYWORDS)


def sample_sizes(key: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise _bad(key, value, f"use a mapping of {', '.join(SPLITS)} to a row count or null")
    _check_keys(value, list(SPLITS), where=key)
    size = whole(minimum=1, nullable=True)
    return {split: size(f"{key}.{split}", value[split]) for split in SPLITS}


def rule(check: Rule):
    return field(metadata={"rule": check})


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataParams:
    dataset: str = rule(text)  # a Hub dataset id, or a local folder with train/validation/test files
    mirrors: list[str] = rule(texts)  # local folders searched for a copy of a Hub dataset before going online
    text_column: str = rule(text)
    label_column: str = rule(text)
    sample_size: dict[str, int | None] = rule(sample_sizes)  # rows per split; null keeps the whole split
    seed: int = rule(whole(minimum=0))


@dataclass(frozen=True)
class ModelParams:
    name: str = rule(text)  # a Hub model id, or a local folder
    revision: str = rule(text)
    max_length: int = rule(whole(minimum=2))  # room for the [CLS] and [SEP] tokens at least
    head_seed: int = rule(whole(minimum=0))  # seeds the fresh classification head, so baseline and train start alike


@dataclass(frozen=True)
class PeftParams:
    method: str = rule(one_of(*METHODS))  # which section below the train stage reads


# One section per method. Each has its own learning rate: the methods train different numbers
# of weights, and no single rate suits a linear probe, 0.02% of the weights and all of them.


@dataclass(frozen=True)
class LoraParams:
    learning_rate: float = rule(number(above=0))
    r: int = rule(whole(minimum=1))
    alpha: float = rule(number(above=0))
    dropout: float = rule(number(at_least=0, below=1))
    target_modules: str | list[str] = rule(target_modules)
    use_dora: bool = rule(boolean)  # weight-decomposed LoRA (DoRA)
    use_rslora: bool = rule(boolean)  # rank-stabilised scaling: alpha / sqrt(r) instead of alpha / r


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


@dataclass(frozen=True)
class PromptTuningParams:
    learning_rate: float = rule(number(above=0))
    num_virtual_tokens: int = rule(whole(minimum=1))  # learned embeddings put before every text


@dataclass(frozen=True)
class PrefixTuningParams:
    learning_rate: float = rule(number(above=0))
    num_virtual_tokens: int = rule(whole(minimum=1))  # learned keys/values put before every layer's attention


@dataclass(frozen=True)
class HeadOnlyParams:
    learning_rate: float = rule(number(above=0))


@dataclass(frozen=True)
class FullParams:
    learning_rate: float = rule(number(above=0))


@dataclass(frozen=True)
class TrainParams:
    epochs: int = rule(whole(minimum=1))
    batch_size: int = rule(whole(minimum=1))
    weight_decay: float = rule(number(at_least=0))
    warmup_ratio: float = rule(number(at_least=0, below=1))
    seed: int = rule(whole(minimum=0))
    precision: str = rule(one_of(*PRECISIONS))  # auto is bf16 where the hardware runs it fast
    launcher: str = rule(one_of(*LAUNCHERS))  # how the train stage starts its processes
    processes: int = rule(whole(minimum=1))  # one per GPU under torchrun or accelerate

    def __post_init__(self):
        if self.launcher == "python" and self.processes != 1:
            raise ParamsError(
                f"params.yaml: train.processes is {self.processes}, but train.launcher python runs one "
                "process; set train.launcher to torchrun or accelerate to use several GPUs."
            )


@dataclass(frozen=True)
class EvalParams:
    batch_size: int = rule(whole(minimum=1))


@dataclass(frozen=True)
class ClassicalParams:
    max_features: int | None = rule(whole(minimum=1, nullable=True))  # vocabulary cap; null keeps every term
    ngram_max: int = rule(whole(minimum=1))  # word n-grams from 1 to this
    C: float = rule(number(above=0))  # inverse regularisation strength of the logistic regression


@dataclass(frozen=True)
class StatsParams:
    bootstrap_resamples: int = rule(whole(minimum=1))
    confidence: float = rule(number(above=0, below=1))  # of the bootstrap intervals, e.g. 0.95
    seed: int = rule(whole(minimum=0))


@dataclass(frozen=True)
class Params:
    data: DataParams
    model: ModelParams
    peft: PeftParams
    lora: LoraParams
    ia3: Ia3Params
    prompt_tuning: PromptTuningParams
    prefix_tuning: PrefixTuningParams
    head_only: HeadOnlyParams
    full: FullParams
    train: TrainParams
    eval: EvalParams
    classical: ClassicalParams
    stats: StatsParams

    @classmethod
    def from_dict(cls, raw: Any) -> Params:
        if not isinstance(raw, dict):
            raise ParamsError(f"params.yaml must be a mapping of sections, got {type(raw).__name__}.")
        sections = _check_keys(raw, [f.name for f in fields(cls)], where="")
        kwargs = {}
        for section_field in fields(cls):
            name, section_cls = section_field.name, _SECTIONS[section_field.name]
            section = sections[name]
            if not isinstance(section, dict):
                raise ParamsError(f"params.yaml: '{name}' must be a mapping of keys, got {section!r}.")
            values = _check_keys(section, [f.name for f in fields(section_cls)], where=name)
            kwargs[name] = section_cls(
                **{f.name: f.metadata["rule"](f"{name}.{f.name}", values[f.name]) for f in fields(section_cls)}
            )
        return cls(**kwargs)

    @property
    def method(self):
        """The section of the chosen method (`peft.method`)."""
        return getattr(self, self.peft.method)

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> Params:
        try:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ParamsError(f"{path} does not exist; run the stage from the project folder.") from None
        except yaml.YAMLError as error:
            raise ParamsError(f"{path} is not valid YAML: {error}") from None
        return cls.from_dict(raw)


_SECTIONS = {
    "data": DataParams,
    "model": ModelParams,
    "peft": PeftParams,
    "lora": LoraParams,
    "ia3": Ia3Params,
    "prompt_tuning": PromptTuningParams,
    "prefix_tuning": PrefixTuningParams,
    "head_only": HeadOnlyParams,
    "full": FullParams,
    "train": TrainParams,
    "eval": EvalParams,
    "classical": ClassicalParams,
    "stats": StatsParams,
}


def _check_keys(mapping: dict[str, Any], allowed: list[str], where: str) -> dict[str, Any]:
    prefix = f"{where}." if where else ""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
            raise ParamsError(
                f"params.yaml: unknown key '{prefix}{key}'.{hint} "
                f"Allowed keys here: {', '.join(prefix + a for a in allowed)}."
            )
    missing = [key for key in allowed if key not in mapping]
    if missing:
        raise ParamsError(
            f"params.yaml: missing key(s) {', '.join(prefix + m for m in missing)}; "
            "add them (see the README's params table)."
        )
    return mapping
