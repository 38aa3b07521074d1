"""Stage 4, evaluate: reload the trained adapter and score it on the test split.

The adapter is reloaded from models/adapter/ as a user would: the base model, then
`PeftModel.from_pretrained`. Reads params `model.*` and `eval.batch_size`. Writes
metrics/finetuned.json, plots/finetuned/confusion.csv and data/predictions/finetuned.csv.

    python -m src.evaluate       # or: dvc repro evaluate
"""

import logging

from src.cli import run_stage
from src.data import read_label_names
from src.evaluation import evaluate_on_test
from src.errors import ModelError
from src.modeling import load_finetuned
from src.params import Params
from src.paths import ADAPTER_DIR

log = logging.getLogger("evaluate")


def evaluate() -> None:
    params = Params.load()
    model, tokenizer, label_names = load_finetuned(ADAPTER_DIR, params.model)
    if label_names != read_label_names():
        raise ModelError(
            f"The adapter in {ADAPTER_DIR} was trained on labels {label_names}, but the prepared "
            f"data has {read_label_names()}. Retrain it: `dvc repro train`."
        )
    metrics = evaluate_on_test(model, tokenizer, label_names, params, "finetuned")
    log.info("fine-tuned model: accuracy %.4f, macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])


def main(argv=None) -> None:
    run_stage(evaluate, __doc__, argv)


if __name__ == "__main__":
    main()
