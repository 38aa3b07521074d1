"""Stage 4, evaluate: reload the trained result and score it on the test split.

The result in models/finetuned/ is reloaded as a user would (src/model/finetuned.py): for a peft
method the base model named in its method.json, then `PeftModel.from_pretrained`; for head_only
the base model and the saved head; for full the saved model itself. Reads param
`eval.batch_size` (the model, method and max_length come from method.json). Writes
metrics/finetuned.json, plots/finetuned/confusion.csv and data/predictions/finetuned.csv.

    python -m src.evaluate       # or: dvc repro evaluate
"""

import logging

from src.core.cli import run_stage
from src.core.errors import ModelError
from src.core.params import Params
from src.core.paths import FINETUNED_DIR
from src.data.prepared import read_label_names, read_prepared, text_inputs
from src.model.finetuned import load_result
from src.model.inference import predict_proba
from src.scoring.predictions import evaluate_probabilities, write_evaluation

log = logging.getLogger("evaluate")


def evaluate() -> None:
    params = Params.load()
    model, tokenizer, manifest = load_result(FINETUNED_DIR)
    label_names, prepared_labels = manifest["label_names"], read_label_names()
    if label_names != prepared_labels:
        raise ModelError(
            f"The model in {FINETUNED_DIR} was trained on labels {label_names}, but the prepared "
            f"data has {prepared_labels}. Retrain it: `dvc repro train`."
        )
    test = read_prepared("test")
    texts, pairs = text_inputs(test)
    probabilities = predict_proba(
        model,
        tokenizer,
        texts,
        params.eval.batch_size,
        manifest["model"]["max_length"],
        desc="finetuned: test",
        pairs=pairs,
    )
    evaluation = evaluate_probabilities(test, probabilities, label_names)
    write_evaluation("finetuned", evaluation)
    log.info(
        "fine-tuned model (%s): accuracy %.4f, macro-F1 %.4f",
        manifest["method"],
        evaluation.metrics["accuracy"],
        evaluation.metrics["macro_f1"],
    )


def main(argv=None) -> None:
    run_stage(evaluate, __doc__, argv)


if __name__ == "__main__":
    main()
