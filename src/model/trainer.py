"""Training with the Hugging Face Trainer, logged with dvclive, for every method in src/model/methods.py.

Batches are padded per batch (`DataCollatorWithPadding`) and drawn grouped by length, so a batch
of short tweets is not padded to `model.max_length`. Validation runs `train.evals_per_epoch` times
an epoch, at equal steps, each pass checkpointed; the training loss and the validation
accuracy/macro-F1 go to dvclive, keyed by optimizer step.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from dvclive import Live
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    ProgressCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.integrations import DVCLiveCallback

from src.core.params import Params, TrainParams
from src.core.paths import CHECKPOINTS_DIR, TRAINING_LOG_DIR
from src.model.checkpoints import Checkpoints, run_key
from src.model.class_balance import WeightedBinaryCrossEntropy, WeightedCrossEntropy, class_weights, positive_weights
from src.model.devices import resolve_precision, speed_up_cpu_bf16, trainer_precision_args, use_available_cores
from src.model.families import head_modules
from src.model.finetuned import adapt, shift_output_bias
from src.model.frozen_prefix import ROW_COLUMN, PrefixCache, frozen_layers, matches_whole_model
from src.model.pacing import PaceByValidation, PacedRate
from src.model.pretrained import count_parameters, load_classifier, load_tokenizer, set_dropout
from src.scoring.tasks import TASKS, Task
from src.search.pruning import reporter_for_this_run

# peft 0.21 calls a transformers 5 API that now warns of its own deprecation; nothing for users to do.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

log = logging.getLogger(__name__)

# Training loss is logged this many times per epoch; validation `train.evals_per_epoch` times.
LOSS_LOGS_PER_EPOCH = 10
# evals_per_epoch auto: at most this many optimizer steps between validation passes. A pass over
# 1,000 validation tweets costs about what 6 training steps do; a 250-step gap spends 2% on it.
MAX_STEPS_BETWEEN_EVALS = 250


class StepAlignedDVCLiveCallback(DVCLiveCallback):
    """transformers' DVCLive callback, with every log written at the optimizer step.

    The stock callback advances dvclive's step once per log call, which puts the training loss
    and the end-of-epoch validation scores on interleaved x values that match neither.
    """

    def on_log(self, args, state, control, model=None, logs=None, **kwargs):
        if self.live is not None:
            self.live.step = state.global_step
        super().on_log(args, state, control, model=model, logs=logs, **kwargs)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        super().on_train_begin(args, state, control, model=model, **kwargs)
        # DVC cleared plots/training before rerunning the stage: a run resumed from a checkpoint
        # writes the curves of the steps before it again, from the checkpoint's log.
        if self.live is not None and state.global_step:
            for entry in state.log_history:
                self.live.step = entry["step"]
                DVCLiveCallback.on_log(self, args, state, control, logs={k: v for k, v in entry.items() if k != "step"})


class LengthBucketSampler(torch.utils.data.Sampler):
    """Batches of similar lengths, drawn in random order.

    transformers' `group_by_length` sorts each window of up to 50 batches longest first and
    serves its batches in that order. Where length goes with the label (spam is long, ham is
    short), that is a run of one-class batches after another, and on a 2,000-row set it drove the
    model to a constant answer (docs/DATASETS.md). Here the windows are sorted the same way, so
    padding is the same, but the batches of the whole epoch are shuffled before they are served.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window_batches: int = 50):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.window = batch_size * window_batches
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1  # a new order each epoch, also where nobody calls set_epoch
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        batches = []
        for start in range(0, len(order), self.window):
            window = sorted(order[start : start + self.window], key=self.lengths.__getitem__, reverse=True)
            batches += [window[i : i + self.batch_size] for i in range(0, len(window), self.batch_size)]
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        # The DataLoader cuts batches from this stream: a short batch anywhere but last would
        # shift every batch after it across two buckets.
        shuffled.sort(key=lambda batch: len(batch) < self.batch_size)
        for batch in shuffled:
            yield from batch


class LengthBucketTrainer(Trainer):
    """The Trainer, drawing batches from `LengthBucketSampler` when `train.group_by_length` is on,
    and validating longest texts first."""

    def __init__(
        self,
        *args,
        group_by_length: bool,
        head_rate: tuple[set[int], float] = (set(), 1.0),
        paced_rate: PacedRate | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.group_by_length = group_by_length
        self.head_rate = head_rate
        self.paced_rate = paced_rate

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """`train.epochs: auto`: the rate of `PacedRate` (flat until validation stops gaining, then
        a cool-down); else the Trainer's linear decay over the planned steps."""
        if self.paced_rate is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, self.paced_rate)
        return self.lr_scheduler

    def create_optimizer(self, model=None):
        """The Trainer's AdamW groups (decay, no decay), each split into the encoder's weights and
        the fresh head's, which learns at `train.head_lr_scale` times the method's rate."""
        optimizer = super().create_optimizer(model)
        head, scale = self.head_rate
        if scale != 1.0 and head:
            groups = []
            for group in optimizer.param_groups:
                rest = [p for p in group["params"] if id(p) not in head]
                ours = [p for p in group["params"] if id(p) in head]
                groups += [{**group, "params": rest}] if rest else []
                groups += [{**group, "params": ours, "lr": group["lr"] * scale}] if ours else []
            optimizer.param_groups[:] = groups  # before the first step: no optimizer state to move
        return optimizer

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if not self.group_by_length:
            return super()._get_train_sampler(train_dataset)
        lengths = [len(ids) for ids in dataset["input_ids"]]
        return LengthBucketSampler(lengths, self.args.train_batch_size, self.args.seed)

    def _get_eval_sampler(self, eval_dataset):
        # Labels and logits come back in this order together, so any order scores the same; in
        # order of length a batch pads to little more than its own texts: 2.7x faster than the
        # dataset's order on 1,000 validation tweets.
        lengths = [len(ids) for ids in eval_dataset["input_ids"]]
        return sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)


@dataclass(frozen=True)
class Schedule:
    """How long training runs: whole epochs, at least `train.min_steps` optimizer steps, and a
    warm-up of `train.warmup_ratio` of them but no fewer than `train.min_warmup_steps`.

    The rate and warm-up that suit 1,000 steps on 16,000 rows collapse a 2,000-row set trained
    for 126 steps (docs/DATASETS.md), so small sets get more epochs and the warm-up a floor.
    With `train.epochs: auto` the run follows validation (src/model/pacing.py): `epochs` is then
    the most it may run, and `min_epochs` what `train.min_steps` asks for."""

    epochs: int
    steps_per_epoch: int
    warmup_steps: int
    eval_steps: int  # optimizer steps between validation passes (and checkpoints)
    follows_validation: bool = False  # train.epochs auto
    min_epochs: int = 1

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @classmethod
    def plan(cls, train: TrainParams, rows: int, processes: int = 1) -> Schedule:
        steps_per_epoch = math.ceil(rows / (train.batch_size * processes))
        min_epochs = max(1, math.ceil(train.min_steps / steps_per_epoch))
        follows = train.epochs == "auto"
        if not follows:
            min_epochs = max(train.epochs, min_epochs)
        epochs = max(train.max_epochs, min_epochs) if follows else min_epochs
        # auto warms up as the shortest run it may be would: the rate is flat after it, whatever the length.
        warm_over = min_epochs * steps_per_epoch
        warmup = min(max(math.ceil(train.warmup_ratio * warm_over), train.min_warmup_steps), warm_over // 2)
        evals = train.evals_per_epoch
        if evals == "auto":
            evals = math.ceil(steps_per_epoch / MAX_STEPS_BETWEEN_EVALS)
        eval_steps = math.ceil(steps_per_epoch / min(evals, steps_per_epoch))
        return cls(
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            warmup_steps=warmup,
            eval_steps=eval_steps,
            follows_validation=follows,
            min_epochs=min_epochs,
        )

    @property
    def evals_per_epoch(self) -> int:
        return math.ceil(self.steps_per_epoch / self.eval_steps)


class ValidationScores:
    """The Trainer's `compute_metrics`: accuracy and macro-F1 per epoch, as the task scores them.
    It keeps each epoch's labels and logits by optimizer step, so the collapse check, the
    temperature fit and the thresholds on the epoch kept need no extra pass over validation."""

    def __init__(self, task: Task):
        self.task = task
        self.trainer: Trainer | None = None  # set once the Trainer exists, for its step count
        self.by_step: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, eval_prediction) -> dict[str, float]:
        step = self.trainer.state.global_step
        labels, logits = np.asarray(eval_prediction.label_ids), np.asarray(eval_prediction.predictions)
        self.by_step[step] = (labels, logits)
        return self.task.validation_scores(logits, labels)

    def at(self, step: int, trainer: Trainer, validation_set: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(labels, logits) of the model as of `step`; an epoch scored before a resume is scored again."""
        if step not in self.by_step:
            output = trainer.predict(validation_set)
            self.by_step[step] = (np.asarray(output.label_ids), np.asarray(output.predictions))
        return self.by_step[step]


def epochs_of(value: float) -> int | float:
    """An epoch count as recorded: whole where it is, else to two decimals (1.5 after half of the second)."""
    value = round(float(value or 0), 2)
    return int(value) if value.is_integer() else value


def head_parameters(model: torch.nn.Module) -> set[int]:
    """ids of the trainable weights of the task head, where the model trains more than its head
    (head_only trains nothing else: its rate is the method's own)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = {id(p) for name in head_modules(base) for p in base.get_submodule(name).parameters() if p.requires_grad}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    return head if trainable - head else set()


def stop_reason(trainer: Trainer, planned_epochs: int, early_stopping, search_trial=None, pacer=None) -> str:
    epochs_run = epochs_of(trainer.state.epoch)
    if search_trial is not None and search_trial.pruned_at_epoch is not None:
        return f"pruned by the search after epoch {epochs_run} of {planned_epochs}"
    if pacer is not None:
        return pacer.record(math.ceil(trainer.state.max_steps / planned_epochs))
    if epochs_run < planned_epochs:
        return (
            f"early stopping: validation {early_stopping.metric} did not improve for "
            f"{early_stopping.patience} validation pass(es), after epoch {epochs_run} of {planned_epochs}"
        )
    return f"ran all {planned_epochs} epochs"


@dataclass
class TrainingResult:
    model: torch.nn.Module
    tokenizer: object
    is_main_process: bool  # False in all but one process of a multi-GPU run; only that one saves
    efficiency: dict  # trainable parameters, schedule, time, throughput, last validation scores
    collapse: dict  # the task's collapse check on the validation pass of the epoch kept
    temperature: float  # fitted on validation: softmax (or sigmoid) of logits / temperature is calibrated
    thresholds: list[float] | None  # multi-label: each label's threshold, tuned on validation
    checkpoints: Checkpoints  # removed by the train stage once the result is saved
    total_flos: float  # the Trainer's count of training FLOPs (6 x non-embedding parameters x tokens)

    def record(self, method: str, weights_file: Path) -> dict:
        """metrics/train.json: the method, what it trained, how fast, its last validation scores,
        the size of its saved weights and the stage's peak memory."""
        return {
            "method": method,
            **self.efficiency,
            "collapse": self.collapse,
            "temperature": round(self.temperature, 4),
            **({"thresholds": self.thresholds} if self.thresholds is not None else {}),
            "artefact_size_mb": round(weights_file.stat().st_size / 1e6, 3),
            "peak_rss_mb": peak_rss_mb(),
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak * (1 if sys.platform == "darwin" else 1024) / 1e6, 1)


def tokenize(frame: pd.DataFrame, tokenizer, max_length: int, task: Task, n_labels: int) -> Dataset:
    """A prepared split as a Dataset of token ids and labels as the task's loss takes them; a text
    pair goes to the tokenizer as a pair."""
    texts = [column for column in ("text", "text_pair") if column in frame.columns]
    columns = {column: frame[column].tolist() for column in texts}
    dataset = Dataset.from_dict({**columns, "label": task.training_labels(frame["label"], n_labels)})
    return dataset.map(
        lambda batch: tokenizer(*(batch[column] for column in texts), truncation=True, max_length=max_length),
        batched=True,
        remove_columns=texts,
        desc="tokenize",
    )


def model_dropout(setting: str | float | None, epochs: int) -> float | None:
    """`train.model_dropout` for a run of `epochs`: the probability to set, or None to keep the
    checkpoint's own. `auto` is 0 for a single epoch, where no row comes back and dropout only
    slows learning (and costs a random mask per layer), and the checkpoint's own for several,
    where it keeps a small set from being memorised (docs/DATASETS.md)."""
    if setting == "auto":
        return 0.0 if epochs == 1 else None
    return setting


def train_model(
    params: Params,
    label_names: list[str],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    log_dir: Path = TRAINING_LOG_DIR,
    checkpoint_root: Path = CHECKPOINTS_DIR,
    task: str = "single_label",
) -> TrainingResult:
    """Fine-tune with `peft.method`; dvclive writes the curves to `log_dir`, the Trainer a
    checkpoint per epoch under `checkpoint_root`, from which a rerun of the same run resumes."""
    precision = resolve_precision(params.train.precision)
    threads = use_available_cores()
    log.info(
        "training %s in %s on %s (%d CPU threads)",
        params.peft.method,
        precision,
        "cuda" if torch.cuda.is_available() else "cpu",
        threads,
    )
    task = TASKS[task]
    tokenizer = load_tokenizer(params.model)
    train_set = tokenize(train, tokenizer, params.model.max_length, task, len(label_names))
    validation_set = tokenize(validation, tokenizer, params.model.max_length, task, len(label_names))

    schedule = Schedule.plan(params.train, len(train_set), params.train.processes)
    classifier = load_classifier(params.model, label_names, task.problem_type)
    dropout = model_dropout(params.train.model_dropout, schedule.min_epochs)
    if dropout is not None:
        touched = set_dropout(classifier, dropout)
        log.info("dropout %g in the model's %d dropout layers (train.model_dropout)", dropout, touched)
    set_seed(params.train.seed)  # the method's initial weights, dropout and batch order
    model = adapt(classifier, params.peft.method, params.method, params.model.name)
    trainable, total = count_parameters(model)

    if schedule.follows_validation:
        log.info(
            "%d rows make %d optimizer steps an epoch: training until validation %s gains less than %g in %d "
            "pass(es) (one every %d steps), then a cool-down of %g of the steps run; at most %d epochs",
            len(train_set),
            schedule.steps_per_epoch,
            params.train.early_stopping.metric,
            params.train.early_stopping.min_delta,
            params.train.early_stopping.patience,
            schedule.eval_steps,
            params.train.cooldown,
            schedule.epochs,
        )
    elif schedule.epochs > params.train.epochs:
        log.info(
            "%d rows make %d optimizer steps an epoch: training %d epochs to reach train.min_steps %d",
            len(train_set),
            schedule.steps_per_epoch,
            schedule.epochs,
            params.train.min_steps,
        )
    prior_shift = None
    if task.problem_type == "multi_label_classification":
        weights = positive_weights(task.targets(train["label"], len(label_names)), params.train.class_weights)
        loss = None if weights is None else WeightedBinaryCrossEntropy(weights)
        # A loss that counts a label's positives w times learns logits log(w) too high: its
        # probabilities say "likely" of rows that are not. The shift is taken back after training.
        prior_shift = None if weights is None else -np.log(weights)
    else:
        weights = class_weights(train["label"], len(label_names), params.train.class_weights)
        loss = None if weights is None else WeightedCrossEntropy(weights)
    scores = ValidationScores(task)
    collator = DataCollatorWithPadding(tokenizer)
    shortcut = contextlib.nullcontext(model)
    frozen = frozen_layers(model) if params.train.cache_frozen_layers else 0
    frozen_pass_s = 0.0
    if frozen:
        started = time.perf_counter()
        cache = PrefixCache.build(
            model, frozen, [train_set, validation_set], params.eval.batch_size, tokenizer.pad_token_id
        )
        frozen_pass_s = time.perf_counter() - started
        if matches_whole_model(model, cache, validation_set, len(train_set), tokenizer.pad_token_id):
            log.info("the %d frozen layers ran once per text; each step runs only the layers above them", frozen)
            train_set = train_set.add_column(ROW_COLUMN, list(range(len(train_set))))
            rows = range(len(train_set), len(train_set) + len(validation_set))
            validation_set = validation_set.add_column(ROW_COLUMN, list(rows))
            collator = cache.collate(collator)
            shortcut = cache.attached(model)
        else:
            log.info("this architecture cannot use stored outputs of its frozen layers; every step runs them")
            frozen = 0
    if precision == "bf16" and not torch.cuda.is_available() and not frozen:
        log.info("bf16 autocast on the CPU: %s", speed_up_cpu_bf16(model))
    checkpoints = Checkpoints(run_key(params, [train, validation]), checkpoint_root)
    resume_from = checkpoints.prepare()
    if resume_from:
        log.info("resuming from %s, left by an interrupted run of this configuration", resume_from)
    stopping = params.train.early_stopping
    # Under torchrun every process runs this; only the first writes the curves.
    first_process = int(os.environ.get("RANK", "0")) == 0
    search_trial = reporter_for_this_run() if first_process else None  # python -m src.search's trials
    live = Live(dir=str(log_dir), save_dvc_exp=False, dvcyaml=None, report=None) if first_process else None
    paced_rate = PacedRate(schedule.warmup_steps) if schedule.follows_validation else None
    pacer = (
        PaceByValidation(
            paced_rate,
            metric=stopping.metric,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
            min_steps=params.train.min_steps,
            cooldown=params.train.cooldown,
            max_steps=schedule.steps,
            validation_rows=len(validation_set),
        )
        if paced_rate
        else None
    )
    with shortcut as trained:
        args = TrainingArguments(
            output_dir=str(checkpoints.folder),
            num_train_epochs=schedule.epochs,
            learning_rate=params.method.learning_rate,
            per_device_train_batch_size=params.train.batch_size,
            per_device_eval_batch_size=params.eval.batch_size,
            weight_decay=params.train.weight_decay,
            warmup_steps=schedule.warmup_steps,
            seed=params.train.seed,
            data_seed=params.train.seed,
            train_sampling_strategy="random",  # or length buckets, drawn by LengthBucketTrainer
            # Every eval_steps (an epoch, or equal parts of one), and at the last step; each pass
            # is checkpointed, so the best one can be kept and a killed run resumed from it.
            eval_strategy="steps",
            eval_steps=schedule.eval_steps,
            logging_strategy="steps",
            logging_steps=max(1, schedule.steps_per_epoch // LOSS_LOGS_PER_EPOCH),
            save_strategy="steps",
            save_steps=schedule.eval_steps,
            save_total_limit=2,  # the best checkpoint and the latest, to resume from
            load_best_model_at_end=True,
            metric_for_best_model=stopping.metric,
            greater_is_better=stopping.metric != "loss",
            dataloader_pin_memory=torch.cuda.is_available(),
            # Under torchrun every trainable weight is used in each forward pass; skip DDP's search.
            ddp_find_unused_parameters=False,
            report_to="none",
            # The stored-outputs wrapper takes **inputs, which hides the model's own signature.
            remove_unused_columns=not frozen,
            label_names=["labels"],
            **trainer_precision_args(precision),
        )
        trainer = LengthBucketTrainer(
            group_by_length=params.train.group_by_length,
            head_rate=(head_parameters(model), float(params.train.head_lr_scale)),
            paced_rate=paced_rate,
            model=trained,
            args=args,
            train_dataset=train_set,
            eval_dataset=validation_set,
            data_collator=collator,
            processing_class=tokenizer,
            compute_loss_func=loss,
            compute_metrics=scores,
            callbacks=[
                StepAlignedDVCLiveCallback(live=live),
                *([pacer] if pacer else []),
                *(
                    [EarlyStoppingCallback(stopping.patience, stopping.min_delta)]
                    if stopping.patience and not pacer
                    else []
                ),
                *([search_trial] if search_trial else []),
            ],
        )
        scores.trainer = trainer
        if pacer:
            pacer.progress = next(
                (c for c in trainer.callback_handler.callbacks if isinstance(c, ProgressCallback)), None
            )
        output = trainer.train(resume_from_checkpoint=resume_from)
        kept_step = trainer.state.best_global_step or trainer.state.global_step
        y_true, logits = scores.at(kept_step, trainer, validation_set)
    if prior_shift is not None:  # the kept model's probabilities, as if trained unweighted
        shift_output_bias(model, prior_shift)
        logits = logits + prior_shift
        log.info("the positive weights' shift (log pos_weight per label) taken out of the head's bias")

    train_seconds = output.metrics["train_runtime"] + frozen_pass_s
    kept_eval = next(e for e in trainer.state.log_history if "eval_accuracy" in e and e["step"] == kept_step)
    collapse = task.collapse_check(y_true, logits, label_names)
    epochs_run = epochs_of(trainer.state.epoch)
    epochs_run_here = trainer.state.global_step / schedule.steps_per_epoch - (
        (_step_of(resume_from) or 0) / schedule.steps_per_epoch
    )
    kept_epoch = epochs_of(kept_eval["epoch"])
    stopped = stop_reason(trainer, schedule.epochs, stopping, search_trial, pacer)
    log.info("kept epoch %s of %s (best validation %s); %s", kept_epoch, epochs_run, stopping.metric, stopped)
    if collapse["collapsed"]:
        log.warning("TRAINING COLLAPSED: %s. Likely fix: %s.", collapse["reason"], collapse["fix"])
    efficiency = {
        "parameters": {
            "trainable": trainable,
            "total": total,
            "trainable_percent": round(100 * trainable / total, 4),
        },
        "cached_frozen_layers": frozen,
        "model_dropout": "checkpoint's own" if dropout is None else dropout,
        "class_weights": None
        if weights is None
        else dict(zip(label_names, np.round(weights, 4).tolist(), strict=True)),
        # planned: the epochs of a fixed schedule; auto and its cap where it follows validation
        "epochs": "auto" if schedule.follows_validation else schedule.epochs,
        **({"max_epochs": schedule.epochs} if schedule.follows_validation else {}),
        "epochs_run": epochs_run,
        "optimizer_steps": trainer.state.global_step,
        "warmup_steps": schedule.warmup_steps,
        "evals_per_epoch": schedule.evals_per_epoch,
        # The one pass through the frozen layers counts: without it there is nothing to train on.
        "frozen_pass_s": round(frozen_pass_s, 2),
        "train_time_s": round(train_seconds, 2),
        "train_samples_per_second": round(len(train_set) * epochs_run_here / train_seconds, 2),
        "resumed_from_step": _step_of(resume_from),
        "stopped": stopped,
        **({"search": search_trial.record()} if search_trial else {}),
        "kept": {"epoch": kept_epoch, "step": kept_step, "metric": stopping.metric},
        "validation": {
            "accuracy": kept_eval["eval_accuracy"],
            "macro_f1": kept_eval["eval_macro_f1"],
            "loss": kept_eval["eval_loss"],
        },
    }
    temperature = task.fit_temperature(logits, y_true)
    return TrainingResult(
        model=model,
        tokenizer=tokenizer,
        is_main_process=trainer.is_world_process_zero(),
        efficiency=efficiency,
        collapse=collapse,
        temperature=temperature,
        thresholds=task.tune_thresholds(
            y_true.astype(int), task.probabilities(logits, temperature), params.eval.thresholds
        )
        if np.isfinite(logits).all()
        else None,
        checkpoints=checkpoints,
        total_flos=trainer.state.total_flos,
    )


def _step_of(checkpoint: str | None) -> int | None:
    return None if checkpoint is None else int(checkpoint.rsplit("-", 1)[1])
