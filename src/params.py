"""params.yaml, read into one typed object that every stage shares.

Each section of params.yaml maps to a frozen dataclass. A missing or unknown key fails here,
before any stage loads data or a model, with the key's full name and a suggestion.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from src.errors import ParamsError
from src.paths import PARAMS_FILE, SPLITS


@dataclass(frozen=True)
class DataParams:
    dataset: str  # a Hub dataset id, or a local folder with train/validation/test files
    mirrors: list[str]  # local folders searched for a copy of a Hub dataset before going online
    text_column: str
    label_column: str
    sample_size: dict[str, int | None]  # rows per split; null keeps the whole split
    seed: int


@dataclass(frozen=True)
class ModelParams:
    name: str  # a Hub model id, or a local folder
    revision: str
    max_length: int
    head_seed: int  # seeds the fresh classification head, so baseline and train start alike


@dataclass(frozen=True)
class LoraParams:
    r: int
    alpha: float
    dropout: float
    target_modules: str | list[str]


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    learning_rate: float
    batch_size: int
    weight_decay: float
    warmup_ratio: float
    seed: int
    precision: str  # auto, fp32, bf16 or fp16; auto is bf16 where the hardware runs it fast


@dataclass(frozen=True)
class EvalParams:
    batch_size: int


@dataclass(frozen=True)
class ClassicalParams:
    max_features: int | None  # vocabulary size cap; null keeps every term
    ngram_max: int  # word n-grams from 1 to this
    C: float  # inverse regularisation strength of the logistic regression


@dataclass(frozen=True)
class StatsParams:
    bootstrap_resamples: int
    confidence: float  # of the bootstrap intervals, e.g. 0.95
    seed: int


@dataclass(frozen=True)
class Params:
    data: DataParams
    model: ModelParams
    lora: LoraParams
    train: TrainParams
    eval: EvalParams
    classical: ClassicalParams
    stats: StatsParams

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Params:
        sections = _check_keys(raw, [f.name for f in fields(cls)], where="")
        kwargs = {}
        for field in fields(cls):
            section_cls = _SECTIONS[field.name]
            section = sections[field.name]
            if not isinstance(section, dict):
                raise ParamsError(f"params.yaml: '{field.name}' must be a mapping, got {section!r}")
            values = _check_keys(section, [f.name for f in fields(section_cls)], where=field.name)
            kwargs[field.name] = section_cls(**values)
        params = cls(**kwargs)
        _check_sample_sizes(params.data.sample_size)
        return params

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> Params:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
        return cls.from_dict(raw)


_SECTIONS = {
    "data": DataParams,
    "model": ModelParams,
    "lora": LoraParams,
    "train": TrainParams,
    "eval": EvalParams,
    "classical": ClassicalParams,
    "stats": StatsParams,
}


def _check_keys(mapping: dict[str, Any], allowed: list[str], where: str) -> dict[str, Any]:
    prefix = f"{where}." if where else ""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
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


def _check_sample_sizes(sample_size: dict[str, int | None]) -> None:
    _check_keys(sample_size, list(SPLITS), where="data.sample_size")
    for split, size in sample_size.items():
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ParamsError(
                f"params.yaml: data.sample_size.{split} is {size!r}; "
                "use a whole number >= 1, or null to keep the whole split."
            )
