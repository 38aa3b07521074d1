"""Stage 4, evaluate: reload the trained result and score it on the test split.

The result in models/finetuned/ is reloaded as a user would (src/methods.py): for a peft method
the base model named in its method.json, then `PeftModel.from_pretrained`; for head_only the
base model and the saved head; for full the saved model itself. Reads param `eval.batch_size`
(the model, method and max_length come from method.json). Writes metrics/finetuned.json,
plots/finetuned/confusion.csv and data/predictions/finetuned.csv.

    python -m src.evaluate       # or: dvc repro evaluate
"""

import logging

from src.cli import run_stage
from src.data import read_label_names
from src.errors import ModelError
from src.evaluation import evaluate_on_test
from src.methods import load_result
from src.params import Params
from src.paths import FINETUNED_DIR

log = logging.getLogger("evaluate")


def evaluate() -> None:
    params = Params.load()
    model, tokenizer, manifest = load_result(FINETUNED_DIR)
    label_names = manifest["label_names"]
    if label_names != read_label_names():
        raise ModelError(
            f"The model in {FINETUNED_DIR} was trained on labels {label_names}, but the prepared "
            f"data has {read_label_names()}. Retrain it: `dvc repro train`."
        )
    metrics = evaluate_on_test(
        model, tokenizer, label_names, "finetuned", params.eval.batch_size, manifest["model"]["max_length"]
    )
    log.info(
        "fine-tuned model (%s): accuracy %.4f, macro-F1 %.4f", manifest["method"], metrics["accuracy"], metrics["macro_f1"]
    )


def main(argv=None) -> None:
    run_stage(evaluate, __doc__, argv)


if __name__ == "__main__":
    main()
