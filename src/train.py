"""Stage 3, train: fine-tune with `peft.method` and save the result to models/finetuned/.

Reads params `model.*`, `peft.method`, the chosen method's section (lora, ia3, prompt_tuning,
prefix_tuning, head_only or full), `train.*` and `eval.batch_size`. Writes the trained weights
(an adapter, the head alone, or the whole model; safetensors), tokenizer and method.json to
models/finetuned/, the training curves to plots/training/ (dvclive), and trainable parameters,
artefact size, training time, samples/s and peak memory to metrics/train.json.

With `train.launcher` torchrun or accelerate, the stage re-runs itself under that launcher as
`train.processes` processes (one per GPU).

    python -m src.train          # or: dvc repro train
"""

import logging
import resource
import sys

from src.cli import run_stage
from src.data import read_label_names, read_prepared
from src.launch import relaunch_if_needed
from src.methods import save_result, weights_filename
from src.outputs import write_json
from src.params import Params
from src.paths import FINETUNED_DIR, TRAIN_METRICS_FILE
from src.training import train_model

log = logging.getLogger("train")


def train() -> None:
    params = Params.load()
    if relaunch_if_needed(params.train, "src.train"):
        return
    label_names = read_label_names()
    result = train_model(params, label_names, read_prepared("train"), read_prepared("validation"))
    if not result.is_main_process:
        return
    save_result(result.model, result.tokenizer, params, label_names, FINETUNED_DIR)
    efficiency = {
        "method": params.peft.method,
        **result.efficiency,
        "artefact_size_mb": round((FINETUNED_DIR / weights_filename(params.peft.method)).stat().st_size / 1e6, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    write_json(TRAIN_METRICS_FILE, efficiency)
    log.info(
        "%s trained %d of %d parameters (%.2f%%) in %.0f s; saved %.2f MB; peak memory %.0f MB; validation accuracy %.4f",
        params.peft.method,
        efficiency["parameters"]["trainable"],
        efficiency["parameters"]["total"],
        efficiency["parameters"]["trainable_percent"],
        efficiency["train_time_s"],
        efficiency["artefact_size_mb"],
        efficiency["peak_rss_mb"],
        efficiency["validation"]["accuracy"],
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak * (1 if sys.platform == "darwin" else 1024) / 1e6, 1)


def main(argv=None) -> None:
    run_stage(train, __doc__, argv)


if __name__ == "__main__":
    main()
