"""Training with the Hugging Face Trainer, logged with dvclive, for every method in src/model/methods.py.

Batches are padded per batch (`DataCollatorWithPadding`) and drawn grouped by length, so a batch
of short tweets is not padded to `model.max_length`. Validation runs at the end of every epoch;
the training loss and the validation accuracy/macro-F1 go to dvclive, keyed by optimizer step.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from datasets import Dataset
from dvclive import Live
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed
from transformers.integrations import DVCLiveCallback

from src.core.params import Params
from src.core.paths import TRAINING_LOG_DIR
from src.model.devices import resolve_precision, trainer_precision_args, use_available_cores
from src.model.finetuned import adapt
from src.model.pretrained import count_parameters, load_classifier, load_tokenizer
from src.scoring.metrics import trainer_metrics

# peft 0.21 calls a transformers 5 API that now warns of its own deprecation; nothing for users to do.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

log = logging.getLogger(__name__)

# Training loss is logged this many times per epoch; validation once per epoch.
LOSS_LOGS_PER_EPOCH = 10


class StepAlignedDVCLiveCallback(DVCLiveCallback):
    """transformers' DVCLive callback, with every log written at the optimizer step.

    The stock callback advances dvclive's step once per log call, which puts the training loss
    and the end-of-epoch validation scores on interleaved x values that match neither.
    """

    def on_log(self, args, state, control, model=None, logs=None, **kwargs):
        if self.live is not None:
            self.live.step = state.global_step
        super().on_log(args, state, control, model=model, logs=logs, **kwargs)


@dataclass
class TrainingResult:
    model: torch.nn.Module
    tokenizer: object
    is_main_process: bool  # False in all but one process of a multi-GPU run; only that one saves
    efficiency: dict  # trainable parameters, time, throughput, last validation scores
    total_flos: float  # the Trainer's count of training FLOPs (6 x non-embedding parameters x tokens)

    def record(self, method: str, weights_file: Path) -> dict:
        """metrics/train.json: the method, what it trained, how fast, its last validation scores,
        the size of its saved weights and the stage's peak memory."""
        return {
            "method": method,
            **self.efficiency,
            "artefact_size_mb": round(weights_file.stat().st_size / 1e6, 3),
            "peak_rss_mb": peak_rss_mb(),
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak * (1 if sys.platform == "darwin" else 1024) / 1e6, 1)


def tokenize(frame: pd.DataFrame, tokenizer, max_length: int) -> Dataset:
    """A prepared split as a Dataset of token ids; a text pair goes to the tokenizer as a pair."""
    texts = [column for column in ("text", "text_pair") if column in frame.columns]
    dataset = Dataset.from_pandas(frame[[*texts, "label"]], preserve_index=False)
    return dataset.map(
        lambda batch: tokenizer(*(batch[column] for column in texts), truncation=True, max_length=max_length),
        batched=True,
        remove_columns=texts,
        desc="tokenize",
    )


def train_model(
    params: Params,
    label_names: list[str],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    log_dir: Path = TRAINING_LOG_DIR,
) -> TrainingResult:
    """Fine-tune with `peft.method`; dvclive writes the curves to `log_dir`."""
    precision = resolve_precision(params.train.precision)
    threads = use_available_cores()
    log.info(
        "training %s in %s on %s (%d CPU threads)",
        params.peft.method,
        precision,
        "cuda" if torch.cuda.is_available() else "cpu",
        threads,
    )
    tokenizer = load_tokenizer(params.model)
    train_set = tokenize(train, tokenizer, params.model.max_length)
    validation_set = tokenize(validation, tokenizer, params.model.max_length)

    classifier = load_classifier(params.model, label_names)
    set_seed(params.train.seed)  # the method's initial weights, dropout and batch order
    model = adapt(classifier, params.peft.method, params.method, params.model.name)
    trainable, total = count_parameters(model)

    steps_per_epoch = math.ceil(len(train_set) / params.train.batch_size)
    # Under torchrun every process runs this; only the first writes the curves.
    first_process = int(os.environ.get("RANK", "0")) == 0
    live = Live(dir=str(log_dir), save_dvc_exp=False, dvcyaml=None, report=None) if first_process else None
    with tempfile.TemporaryDirectory(prefix="loraflow-trainer-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,  # nothing is checkpointed; the stage saves the adapter itself
            num_train_epochs=params.train.epochs,
            learning_rate=params.method.learning_rate,
            per_device_train_batch_size=params.train.batch_size,
            per_device_eval_batch_size=params.eval.batch_size,
            weight_decay=params.train.weight_decay,
            warmup_steps=params.train.warmup_ratio,  # a float in [0, 1) is a ratio of all steps
            seed=params.train.seed,
            data_seed=params.train.seed,
            train_sampling_strategy="group_by_length",
            eval_strategy="epoch",
            logging_strategy="steps",
            logging_steps=max(1, steps_per_epoch // LOSS_LOGS_PER_EPOCH),
            save_strategy="no",
            dataloader_pin_memory=torch.cuda.is_available(),
            # Under torchrun every trainable weight is used in each forward pass; skip DDP's search.
            ddp_find_unused_parameters=False,
            report_to="none",
            **trainer_precision_args(precision),
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_set,
            eval_dataset=validation_set,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=trainer_metrics,
            callbacks=[StepAlignedDVCLiveCallback(live=live)],
        )
        output = trainer.train()

    last_eval = [entry for entry in trainer.state.log_history if "eval_accuracy" in entry][-1]
    efficiency = {
        "parameters": {
            "trainable": trainable,
            "total": total,
            "trainable_percent": round(100 * trainable / total, 4),
        },
        "train_time_s": round(output.metrics["train_runtime"], 2),
        "train_samples_per_second": round(output.metrics["train_samples_per_second"], 2),
        "validation": {
            "accuracy": last_eval["eval_accuracy"],
            "macro_f1": last_eval["eval_macro_f1"],
        },
    }
    return TrainingResult(
        model=model,
        tokenizer=tokenizer,
        is_main_process=trainer.is_world_process_zero(),
        efficiency=efficiency,
        total_flos=trainer.state.total_flos,
    )
