"""Stage 3, train: fine-tune the model with LoRA and save the adapter to models/adapter/.

Reads params `model.*`, `lora.*`, `train.*` and `eval.batch_size`. Writes the adapter and
classification head (safetensors), tokenizer and label map to models/adapter/, the training
curves to plots/training/ (dvclive), and trainable parameters, adapter size, training time and
samples/s to metrics/train.json.

    python -m src.train          # or: dvc repro train
"""

import logging

from src.cli import run_stage
from src.data import read_label_names, read_prepared
from src.modeling import save_finetuned
from src.outputs import write_json
from src.params import Params
from src.paths import ADAPTER_DIR, TRAIN_METRICS_FILE
from src.training import train_lora

log = logging.getLogger("train")


def train() -> None:
    params = Params.load()
    label_names = read_label_names()
    result = train_lora(params, label_names, read_prepared("train"), read_prepared("validation"))
    save_finetuned(result.model, result.tokenizer, label_names, ADAPTER_DIR)
    efficiency = result.efficiency
    efficiency["adapter_size_mb"] = round((ADAPTER_DIR / "adapter_model.safetensors").stat().st_size / 1e6, 3)
    write_json(TRAIN_METRICS_FILE, efficiency)
    log.info(
        "trained %d of %d parameters (%.2f%%) in %.0f s; adapter %.2f MB; validation accuracy %.4f",
        efficiency["parameters"]["trainable"],
        efficiency["parameters"]["total"],
        efficiency["parameters"]["trainable_percent"],
        efficiency["train_time_s"],
        efficiency["adapter_size_mb"],
        efficiency["validation"]["accuracy"],
    )


def main(argv=None) -> None:
    run_stage(train, __doc__, argv)


if __name__ == "__main__":
    main()
