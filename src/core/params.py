"""params.yaml, read into one typed, validated object that every stage shares.

Each section of params.yaml maps to a frozen dataclass whose fields carry the rule their value
must follow (src/core/rules.py). The sections of the fine-tuning methods (lora, ia3, ...) come
from the method registry, src/model/methods.py, so a new method brings its own section.
`Params.load()` checks every key of every section before a stage loads data or a model, so a
typo costs seconds: the error names the key, the bad value and what is allowed, and an unknown
key gets a "did you mean" suggestion.
"""

from __future__ import annotations

import codecs
import difflib
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from src.core.errors import ParamsError
from src.core.paths import PARAMS_FILE, SPLITS
from src.core.rules import (
    Rule,
    boolean,
    check_keys,
    keyword_or,
    load_section,
    number,
    one_of,
    one_or_two_texts,
    per_key,
    rule,
    section,
    some_keys,
    text,
    texts,
    whole,
)
from src.model.methods import METHODS

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CLASS_WEIGHTS = ("none", "balanced")  # src/model/class_balance.py
CARVED = ("validation", "test")  # the splits that can be carved from train


def split_source(key: str, value):
    """A split in data.splits: null (carve it), a name, file, glob or folder, or {text: ..., label: ...}
    naming parallel line files (one text, one label a line)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if sorted(value) != ["label", "text"] or not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise ParamsError(
                f"params.yaml: {key} is {value!r}; parallel line files are named as "
                "{text: <texts file>, label: <labels file>}."
            )
        return value
    return text(key, value)


def encoding(key: str, value):
    """An encoding Python knows, or a list of them tried in order per file ([utf-8, latin-1])."""
    for name in value if isinstance(value, list) and value else [value]:
        text(key, name)
        try:
            codecs.lookup(name)
        except LookupError:
            raise ParamsError(
                f"params.yaml: {key} is {value!r}: Python does not know {name!r}; use an encoding such as "
                "utf-8, latin-1, cp1252 or utf-16, or a list of them tried in order, e.g. [utf-8, latin-1]."
            ) from None
    return value


def delimiter(key: str, value):
    """auto, one character, or a tab written as tab or \\t."""
    if value in ("tab", "\\t"):
        return "\t"
    if value == "auto" or (isinstance(value, str) and len(value) == 1 and value not in "\r\n\"'"):
        return value
    raise ParamsError(f"params.yaml: {key} is {value!r}; use auto, one character such as ',' or '@', or tab.")


def column_names(key: str, value):
    if value is None:
        return None
    texts(key, value)
    if len(set(value)) != len(value) or not value:
        raise ParamsError(f"params.yaml: {key} is {value!r}; use a list of distinct column names, or null.")
    return value


def label_columns(key: str, value):
    """A label column, or a list of two or more 0/1 columns, one per label (multi-label)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and len(value) >= 2 and len(set(value)) == len(value):
        return texts(key, value)
    raise ParamsError(
        f"params.yaml: {key} is {value!r}; use a column name, or a list of two or more distinct 0/1 columns, "
        "one per label (multi-label)."
    )


def label_separator(key: str, value):
    """auto, or the one character between the labels of a row (`3,15`, `joy;love`)."""
    if value == "auto" or (isinstance(value, str) and len(value) == 1 and not value.isalnum() and value != " "):
        return value
    raise ParamsError(
        f"params.yaml: {key} is {value!r}; use auto, or the one character between a row's labels, such as ',' or ';'."
    )


def label_names(key: str, value):
    """auto (a labels.txt beside the data, if any), null, a file in the dataset folder, or the names in id order."""
    if value is None or value == "auto" or (isinstance(value, str) and value.strip()):
        return value
    if isinstance(value, list) and value and len(set(map(str, value))) == len(value):
        return texts(key, value)
    raise ParamsError(
        f"params.yaml: {key} is {value!r}; use auto, null, a file of the dataset with one name a line "
        "(e.g. emotions.txt), or a list of distinct names in id order."
    )


LAUNCHERS = ("python", "torchrun", "accelerate")
TASKS = ("auto", "single_label", "multi_label")  # src/scoring/tasks.py
THRESHOLD_TUNING = ("per_label", "none")


FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet", "lines", "folders")  # src/data/layouts.py


@dataclass(frozen=True)
class ReadParams:
    """params.yaml `data.read`: how to read the dataset's files where their names do not tell."""

    format: str = rule(one_of(*FORMATS))  # auto: by suffix and layout
    header: str | bool = rule(keyword_or("auto", boolean, "use auto, true or false"))
    columns: list[str] | None = rule(column_names)  # names of a headerless file's columns, in order
    delimiter: str = rule(delimiter)  # auto: the suffix's, or sniffed
    encoding: str | list[str] = rule(encoding)  # of every text file, or a list tried in order per file


@dataclass(frozen=True)
class DataParams:
    dataset: str = rule(text)  # a Hub dataset id, or a local folder with train/validation/test files
    mirrors: list[str] = rule(texts)  # local folders searched for a copy of a Hub dataset before going online
    # Where a split's rows are, where the usual names and layouts (src/data/layouts.py) miss them:
    # a name (a file stem or a Hub split), a file, a glob of shards or a folder of class folders
    # inside data.dataset, or {text: ..., label: ...} line files; null carves the split from train.
    splits: dict[str, str | dict | None] = rule(
        some_keys(SPLITS, split_source, f"use a mapping of some of {', '.join(SPLITS)} to a name, file or null")
    )
    read: ReadParams = rule(section(ReadParams))  # how to read files whose suffix or first line does not say
    # Shares of the training rows carved off for a missing validation or test split.
    carve: dict[str, float] = rule(
        per_key(CARVED, number(above=0, below=0.5), f"use a mapping of {', '.join(CARVED)} to a share of train")
    )
    text_column: str | list[str] = rule(one_or_two_texts)  # two columns: a text pair
    # One column of labels (a label, or a list of them), or one 0/1 column per label (multi-label).
    label_column: str | list[str] = rule(label_columns)
    task: str = rule(one_of(*TASKS))  # auto: multi-label where rows hold lists of labels (src/data/labels.py)
    label_separator: str = rule(label_separator)  # between a row's labels in a delimited string; auto: , ; or |
    # Names of integer label ids: auto reads labels.txt beside the data if there is one.
    label_names: str | list[str] | None = rule(label_names)
    # rows per split; null keeps the whole split
    sample_size: dict[str, int | None] = rule(
        per_key(SPLITS, whole(minimum=1, nullable=True), f"use a mapping of {', '.join(SPLITS)} to a row count or null")
    )
    seed: int = rule(whole(minimum=0))


@dataclass(frozen=True)
class ModelParams:
    name: str = rule(text)  # a Hub model id, or a local folder
    revision: str = rule(text)
    max_length: int = rule(whole(minimum=2))  # room for the [CLS] and [SEP] tokens at least
    head_seed: int = rule(whole(minimum=0))  # seeds the fresh classification head, so baseline and train start alike


@dataclass(frozen=True)
class PeftParams:
    method: str = rule(one_of(*METHODS))  # which method section the train stage reads


BEST_METRICS = ("macro_f1", "accuracy", "loss")  # validation scores an epoch can be kept by


@dataclass(frozen=True)
class EarlyStoppingParams:
    """params.yaml `train.early_stopping`: which epoch is kept, and whether training stops early."""

    metric: str = rule(one_of(*BEST_METRICS))  # the validation score that picks the epoch kept
    # validation passes without a gain of min_delta before stopping (train.epochs auto: before
    # cooling down); null: never (fixed epochs only)
    patience: int | None = rule(whole(minimum=1, nullable=True))
    min_delta: float = rule(number(at_least=0))  # the least gain in the metric that counts (0.005: half a point)


@dataclass(frozen=True)
class TrainParams:
    """params.yaml `train`: the optimisation every method shares (each has its own learning rate)."""

    # auto: until validation stops gaining, then a cool-down (src/model/pacing.py); or a whole
    # number of epochs, the rate decaying linearly over them
    epochs: str | int = rule(keyword_or("auto", whole(minimum=1), "use auto or a whole number >= 1"))
    max_epochs: int = rule(whole(minimum=1))  # auto's cap
    cooldown: float = rule(number(above=0, below=1))  # auto: the cool-down's steps, a share of those run before it
    min_steps: int = rule(whole(minimum=0))  # small data trains more epochs until this many optimizer steps
    # validation passes (and checkpoints) an epoch, at equal steps; auto: one, or more where an
    # epoch is longer than MAX_STEPS_BETWEEN_EVALS (src/model/trainer.py)
    evals_per_epoch: str | int = rule(keyword_or("auto", whole(minimum=1), "use auto or a whole number >= 1"))
    batch_size: int = rule(whole(minimum=1))
    cache_frozen_layers: bool = rule(boolean)  # run layers with nothing to train once per text, not per step
    group_by_length: bool = rule(boolean)  # batches of similar lengths: less padding, but see params.yaml
    weight_decay: float = rule(number(at_least=0))
    head_lr_scale: float = rule(number(above=0))  # the fresh head's rate over the method's (not head_only's)
    warmup_ratio: float = rule(number(at_least=0, below=1))
    min_warmup_steps: int = rule(whole(minimum=0))  # a floor under warmup_ratio for short runs
    class_weights: str = rule(one_of(*CLASS_WEIGHTS))  # balanced: rare classes weigh more in the loss
    # The pretrained model's own dropout (attention, hidden states, head) while training: auto,
    # null (the checkpoint's own) or a number. LoRA's dropout is the method's knob (lora.dropout).
    model_dropout: str | float | None = rule(
        keyword_or(
            "auto",
            number(at_least=0, below=1, nullable=True),
            "use auto, null (the checkpoint's own) or a number >= 0 and < 1",
        )
    )
    early_stopping: EarlyStoppingParams = rule(section(EarlyStoppingParams))
    seed: int = rule(whole(minimum=0))
    precision: str = rule(one_of(*PRECISIONS))  # auto is bf16 where the hardware runs it fast
    launcher: str = rule(one_of(*LAUNCHERS))  # how the train stage starts its processes
    processes: int = rule(whole(minimum=1))  # one per GPU under torchrun or accelerate

    def __post_init__(self):
        if self.epochs == "auto" and self.early_stopping.patience is None:
            raise ParamsError(
                "params.yaml: train.epochs is auto, which cools down after train.early_stopping.patience "
                "validation passes without a gain, but patience is null; set patience (2), or a whole number of epochs."
            )
        if self.launcher == "python" and self.processes != 1:
            raise ParamsError(
                f"params.yaml: train.processes is {self.processes}, but train.launcher python runs one "
                "process; set train.launcher to torchrun or accelerate to use several GPUs."
            )


@dataclass(frozen=True)
class ThresholdParams:
    """params.yaml `eval.thresholds`: how a multi-label model's probabilities become labels."""

    tune: str = rule(one_of(*THRESHOLD_TUNING))  # per_label: each label's F1-best threshold on validation
    fallback: float = rule(number(above=0, below=1))  # for labels too rare to tune, and every label with none
    min_positives: int = rule(whole(minimum=1))  # validation rows a label needs before its threshold is tuned


@dataclass(frozen=True)
class EvalParams:
    batch_size: int = rule(whole(minimum=1))
    calibration_bins: int = rule(whole(minimum=2))  # equal-width confidence bins of the ECE and reliability diagram
    thresholds: ThresholdParams = rule(section(ThresholdParams))  # multi-label decisions


@dataclass(frozen=True)
class ClassicalParams:
    max_features: int | None = rule(whole(minimum=1, nullable=True))  # vocabulary cap; null keeps every term
    ngram_max: int = rule(whole(minimum=1))  # word n-grams from 1 to this
    C: float = rule(number(above=0))  # inverse regularisation strength of the logistic regression


SAMPLERS = ("tpe", "random", "grid")  # src/search/study.py
PRUNERS = ("median", "hyperband", "none")
STUDY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*")  # a git ref component, as dvc exp names are


def study_name(key: str, value):
    if not isinstance(value, str) or not STUDY_NAME.fullmatch(value):
        raise ParamsError(
            f"params.yaml: {key} is {value!r}; use letters, digits, '_' and single '-' (starting with a letter): "
            "trials are dvc experiments named <study>-<number>."
        )
    return value


def search_dimension(key: str, value):
    """One key of `search.space`: {choices: [...]}, or {low, high} with optional log and step."""
    allowed = "use {choices: [a, b, ...]} or {low: x, high: y} with optional log: true and step: z"
    if not isinstance(value, dict):
        raise ParamsError(f"params.yaml: {key} is {value!r}; {allowed}.")
    if "choices" in value:
        check_keys(value, ["choices"], where=key)
        choices = value["choices"]
        if not isinstance(choices, list) or not choices:
            raise ParamsError(f"params.yaml: {key}.choices is {choices!r}; use a non-empty list.")
        return {"choices": choices}
    allowed_keys = ["low", "high", "log", "step"]
    unknown = set(value) - set(allowed_keys)
    if unknown or not {"low", "high"} <= set(value):
        raise ParamsError(f"params.yaml: {key} is {value!r}; {allowed}.")
    low, high = (number()(f"{key}.{end}", value[end]) for end in ("low", "high"))
    if not low < high:
        raise ParamsError(f"params.yaml: {key} has low {low} and high {high}; low must be below high.")
    log = boolean(f"{key}.log", value.get("log", False))
    if log and low <= 0:
        raise ParamsError(f"params.yaml: {key} has log: true and low {low}; a log scale needs low > 0.")
    step = value.get("step")
    if step is not None:
        step = number(above=0)(f"{key}.step", step)
        if log:
            raise ParamsError(f"params.yaml: {key} has both log and step; Optuna takes one or the other.")
    return {"low": low, "high": high, "log": log, "step": step}


def param_keys(value_rule) -> Rule:
    """A mapping of dotted params.yaml keys (lora.r) to values checked by `value_rule`."""

    def check(key: str, value):
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(name, str) and "." in name for name in value):
            raise ParamsError(
                f"params.yaml: {key} is {value!r}; use a mapping of dotted keys such as lora.r to their values."
            )
        return {name: value_rule(f"{key}.{name}", spec) for name, spec in value.items()}

    return check


@dataclass(frozen=True)
class PrunerParams:
    name: str = rule(one_of(*PRUNERS))  # median: stop a trial whose validation score is below the median at an epoch
    startup_trials: int = rule(whole(minimum=0))  # trials run to the end before any is pruned
    warmup_epochs: float = rule(number(at_least=0))  # epochs every trial runs before it can be pruned (0.5: half)


@dataclass(frozen=True)
class SearchParams:
    """params.yaml `search`: the Optuna study `python -m src.search` runs, each trial a dvc experiment."""

    study: str = rule(study_name)
    storage: str | None = rule(keyword_or(None, text, "use null (a SQLite file beside the report) or a database URL"))
    trials: int = rule(whole(minimum=1))  # over all workers, on every machine
    objective: str = rule(one_of(*BEST_METRICS))  # of the epoch kept, on validation; loss is minimised
    sampler: str = rule(one_of(*SAMPLERS))
    startup_trials: int = rule(whole(minimum=0))  # tpe: trials drawn at random before it models the rest
    seed: int = rule(whole(minimum=0))
    pruner: PrunerParams = rule(section(PrunerParams))
    heartbeat_s: int = rule(whole(minimum=1))  # how often a worker says its trial is alive
    grace_s: int = rule(whole(minimum=1))  # a trial silent this long is failed (its worker died) and retried
    retries: int = rule(whole(minimum=0))  # times a failed trial is run again
    fixed: dict[str, Any] = rule(param_keys(lambda key, value: value))  # set on every trial
    space: dict[str, dict] = rule(param_keys(search_dimension))  # what the study varies

    def __post_init__(self):
        if not self.space:
            raise ParamsError("params.yaml: search.space is empty; name at least one key to search, e.g. lora.r.")
        if self.grace_s <= self.heartbeat_s:
            raise ParamsError(
                f"params.yaml: search.grace_s ({self.grace_s}) must exceed search.heartbeat_s ({self.heartbeat_s}), "
                "or live trials would be failed between two heartbeats."
            )
        both = set(self.fixed) & set(self.space)
        if both:
            raise ParamsError(f"params.yaml: {', '.join(sorted(both))} is both fixed and searched; keep one.")


INT8_TARGETS = ("auto", "avx512_vnni", "avx512", "avx2", "arm64")  # src/model/onnx_export.py
BACKEND_NAMES = ("pytorch", "onnx", "onnx-int8")  # src/model/backends.py


@dataclass(frozen=True)
class OnnxParams:
    int8: bool = rule(boolean)  # also write the dynamically quantised int8 model
    int8_target: str = rule(one_of(*INT8_TARGETS))  # the instruction set int8 is tuned for; auto: this CPU's
    max_accuracy_drop: float = rule(
        number(at_least=0, below=100)
    )  # points of the headline score; more is a loud warning


@dataclass(frozen=True)
class ExportParams:
    onnx: OnnxParams = rule(section(OnnxParams))


@dataclass(frozen=True)
class ServeParams:
    backend: str = rule(one_of(*BACKEND_NAMES))
    host: str = rule(text)  # 127.0.0.1: this machine only; 0.0.0.0 listens on every interface
    port: int = rule(whole(minimum=1))
    max_batch_texts: int = rule(whole(minimum=1))  # texts of requests arriving together gathered into one batch
    max_wait_ms: float = rule(number(at_least=0))  # how long the first text of a batch waits for others to join
    max_pass_tokens: int = rule(whole(minimum=1))  # a batch runs length-sorted, in passes of at most this many tokens
    max_texts: int = rule(whole(minimum=1))  # per request; more is a 413
    max_text_chars: int = rule(whole(minimum=1))  # per text; longer is a 413

    def __post_init__(self):
        if self.port > 65535:
            raise ParamsError(f"params.yaml: serve.port is {self.port}; use a port from 1 to 65535.")


@dataclass(frozen=True)
class StatsParams:
    bootstrap_resamples: int = rule(whole(minimum=1))
    confidence: float = rule(number(above=0, below=1))  # of the bootstrap intervals, e.g. 0.95
    seed: int = rule(whole(minimum=0))


def _check_param_key(raw: dict, dotted: str, where: str) -> None:
    """`dotted` (lora.r) names a value of params.yaml that a trial can set with `-S`."""
    node = raw
    for depth, part in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or part not in node:
            known = list(node) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, [str(k) for k in known], n=1)
            hint = f" (did you mean '{'.'.join([*dotted.split('.')[:depth], close[0]])}'?)" if close else ""
            raise ParamsError(f"params.yaml: {where} names {dotted!r}, which is not a key of params.yaml{hint}.")
        node = node[part]
    if dotted.split(".")[0] == "search":
        raise ParamsError(f"params.yaml: {where} names {dotted!r}; a search cannot vary its own settings.")


# params.yaml's sections in file order: the method sections sit between peft and train.
_LEADING = {"data": DataParams, "model": ModelParams, "peft": PeftParams}
_TRAILING = {
    "train": TrainParams,
    "eval": EvalParams,
    "classical": ClassicalParams,
    "stats": StatsParams,
    "search": SearchParams,
    "export": ExportParams,
    "serve": ServeParams,
}
SECTION_NAMES = (*_LEADING, *METHODS, *_TRAILING)
# Sections no stage reads: the commands that search, export and serve.
AFTER_THE_RUN = ("search", "export", "serve")


@dataclass(frozen=True)
class Params:
    data: DataParams
    model: ModelParams
    peft: PeftParams
    train: TrainParams
    eval: EvalParams
    classical: ClassicalParams
    stats: StatsParams
    search: SearchParams
    export: ExportParams
    serve: ServeParams
    methods: dict[str, Any]  # method name -> its section, as src/model/methods.py defines it

    @property
    def method(self):
        """The section of the chosen method (`peft.method`)."""
        return self.methods[self.peft.method]

    def __getattr__(self, name: str):
        # A method's section by its name, as in params.yaml: `params.lora.r`.
        methods = self.__dict__.get("methods", {})
        if name in methods:
            return methods[name]
        raise AttributeError(name)

    def of_this_run(self) -> dict:
        """Every section this run depends on, in params.yaml order: the other methods' sections
        are left out, since no stage reads them and showing them could show stale values; so are
        `search`, `export` and `serve`, which configure commands run after the pipeline, not a run."""
        chosen = {self.peft.method: self.method}
        sections = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("methods", *AFTER_THE_RUN)}
        ordered = {name: sections.get(name, chosen.get(name)) for name in SECTION_NAMES}
        return {name: asdict(section) for name, section in ordered.items() if section is not None}

    @classmethod
    def from_dict(cls, raw: Any) -> Params:
        if not isinstance(raw, dict):
            raise ParamsError(f"params.yaml must be a mapping of sections, got {type(raw).__name__}.")
        check_keys(raw, list(SECTION_NAMES), where="")
        sections = {
            name: load_section(section_cls, name, raw[name]) for name, section_cls in {**_LEADING, **_TRAILING}.items()
        }
        methods = {name: load_section(method.params, name, raw[name]) for name, method in METHODS.items()}
        for kind, keys in (("fixed", sections["search"].fixed), ("space", sections["search"].space)):
            for key in keys:
                _check_param_key(raw, key, f"search.{kind}")
        return cls(**sections, methods=methods)

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
