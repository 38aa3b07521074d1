"""Stage 4, evaluate: reload the trained result and score it on the test split.

The result in models/finetuned/ is reloaded as a user would (src/model/finetuned.py): for a peft
method the base model named in its method.json, then `PeftModel.from_pretrained`; for head_only
the base model and the saved head; for full the saved model itself. Reads param
`eval.batch_size` and `eval.calibration_bins` (the model, method, max_length and the temperature
fitted on validation come from method.json). The probabilities are softmax(logits / temperature),
or for multi-label data a sigmoid per label, decided by the thresholds in method.json; the
metrics give the calibration before and after scaling. Writes metrics/finetuned.json,
plots/finetuned/{confusion,calibration}.csv and data/predictions/finetuned.csv.

    python -m src.evaluate       # or: dvc repro evaluate
"""

import logging

from src.core.cli import run_stage
from src.core.errors import ModelError
from src.core.params import Params
from src.core.paths import FINETUNED_DIR
from src.data.prepared import read_label_names, read_prepared, text_inputs
from src.model.finetuned import load_result, task_of, thresholds_of
from src.model.inference import predict_logits
from src.scoring.predictions import evaluate_probabilities, write_evaluation
from src.scoring.tasks import TASKS

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
    logits = predict_logits(
        model,
        tokenizer,
        texts,
        params.eval.batch_size,
        manifest["model"]["max_length"],
        desc="finetuned: test",
        pairs=pairs,
    )
    temperature = manifest.get("temperature", 1.0)  # results saved before calibration have none
    task = TASKS[task_of(manifest)]
    evaluation = evaluate_probabilities(
        test,
        task.probabilities(logits, temperature),
        label_names,
        params.eval.calibration_bins,
        unscaled=task.probabilities(logits),
        temperature=temperature,
        task=task.name,
        thresholds=thresholds_of(manifest),
    )
    write_evaluation("finetuned", evaluation)
    log.info(
        "fine-tuned model (%s): %s; ECE %.4f at temperature %.3f (%.4f unscaled)",
        manifest["method"],
        task.headline_text(evaluation.metrics),
        evaluation.metrics["calibration"]["ece"],
        temperature,
        evaluation.metrics["calibration"]["ece_unscaled"],
    )


def main(argv=None) -> None:
    run_stage(evaluate, __doc__, argv)


if __name__ == "__main__":
    main()
