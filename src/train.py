"""Stage 3, train: fine-tune with `peft.method` and save the result to models/finetuned/.

Reads params `model.*`, `peft.method`, the chosen method's section (lora, ia3, prompt_tuning,
prefix_tuning, head_only or full), `train.*` and `eval.batch_size`. Writes the trained weights
(an adapter, the head alone, or the whole model; safetensors), tokenizer and method.json to
models/finetuned/, the training curves to plots/training/ (dvclive), and trainable parameters,
artefact size, training time, samples/s, peak memory, the epoch kept and why training stopped
to metrics/train.json. Each epoch is checkpointed under checkpoints/ (src/model/checkpoints.py):
after a crash, rerunning the stage resumes from the last one.

With `train.launcher` torchrun or accelerate, the stage re-runs itself under that launcher as
`train.processes` processes (one per GPU).

    python -m src.train          # or: dvc repro train
"""

import logging
from dataclasses import asdict

from src.core.cli import run_stage
from src.core.files import write_json
from src.core.params import Params
from src.core.paths import FINETUNED_DIR, TRAIN_METRICS_FILE
from src.data.prepared import read_label_names, read_prepared, read_task
from src.model.finetuned import save_result
from src.model.launch import relaunch_if_needed
from src.model.methods import METHODS
from src.model.trainer import train_model
from src.scoring.tasks import METRIC_TITLES, TASKS

log = logging.getLogger("train")


def train() -> None:
    params = Params.load()
    if relaunch_if_needed(params.train, "src.train"):
        return
    label_names, task = read_label_names(), read_task()
    train, validation = read_prepared("train"), read_prepared("validation")
    result = train_model(params, label_names, train, validation, task=task)
    if not result.is_main_process:
        return
    method = params.peft.method
    pairs = "text_pair" in train.columns
    save_result(
        result.model,
        result.tokenizer,
        method,
        params.model,
        label_names,
        FINETUNED_DIR,
        text_pair=pairs,
        temperature=result.temperature,
        training={
            "dataset": params.data.dataset,
            "params": {method: asdict(params.method), "train": asdict(params.train)},
        },
        task=task,
        thresholds=result.thresholds,
    )
    record = result.record(method, FINETUNED_DIR / METHODS[method].weights_file)
    headline = TASKS[task].headline[0]  # accuracy, or macro-F1 for multi-label data
    write_json(TRAIN_METRICS_FILE, record)
    result.checkpoints.remove()  # the result is saved: nothing left to resume
    log.info(
        "%s trained %d of %d parameters (%.2f%%) in %.0f s; saved %.2f MB; peak memory %.0f MB; validation %s %.4f",
        method,
        record["parameters"]["trainable"],
        record["parameters"]["total"],
        record["parameters"]["trainable_percent"],
        record["train_time_s"],
        record["artefact_size_mb"],
        record["peak_rss_mb"],
        METRIC_TITLES[headline],
        record["validation"][headline],
    )


def main(argv=None) -> None:
    run_stage(train, __doc__, argv)


if __name__ == "__main__":
    main()
