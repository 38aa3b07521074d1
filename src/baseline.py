"""Stage 2, baseline: score the untuned model on the test split.

The untuned model is the pretrained encoder with a fresh classification head drawn from
`model.head_seed`: exactly the model the train stage starts from. Reads params `model.*` and
`eval.batch_size`. Writes metrics/baseline.json, plots/baseline/confusion.csv and
data/predictions/baseline.csv.

    python -m src.baseline       # or: dvc repro baseline
"""

import logging

from src.core.cli import run_stage
from src.core.params import Params
from src.data.prepared import read_label_names, read_prepared, text_inputs
from src.model.inference import predict_proba
from src.model.pretrained import load_classifier, load_tokenizer
from src.scoring.predictions import evaluate_probabilities, write_evaluation

log = logging.getLogger("baseline")


def baseline() -> None:
    params = Params.load()
    label_names, test = read_label_names(), read_prepared("test")
    tokenizer = load_tokenizer(params.model)
    model = load_classifier(params.model, label_names)
    texts, pairs = text_inputs(test)
    probabilities = predict_proba(
        model, tokenizer, texts, params.eval.batch_size, params.model.max_length, desc="baseline: test", pairs=pairs
    )
    evaluation = evaluate_probabilities(test, probabilities, label_names, params.eval.calibration_bins)
    write_evaluation("baseline", evaluation)
    log.info(
        "untuned model: accuracy %.4f, macro-F1 %.4f", evaluation.metrics["accuracy"], evaluation.metrics["macro_f1"]
    )


def main(argv=None) -> None:
    run_stage(baseline, __doc__, argv)


if __name__ == "__main__":
    main()
