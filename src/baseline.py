"""Stage 2, baseline: score the untuned model on the test split.

The untuned model is the pretrained encoder with a fresh classification head drawn from
`model.head_seed`: exactly the model the train stage starts from. Reads params `model.*` and
`eval.batch_size`. Writes metrics/baseline.json, plots/baseline/confusion.csv and
data/predictions/baseline.csv.

    python -m src.baseline       # or: dvc repro baseline
"""

import logging

from src.cli import run_stage
from src.data import read_label_names
from src.evaluation import evaluate_on_test
from src.modeling import load_classifier, load_tokenizer
from src.params import Params

log = logging.getLogger("baseline")


def baseline() -> None:
    params = Params.load()
    label_names = read_label_names()
    tokenizer = load_tokenizer(params.model)
    model = load_classifier(params.model, label_names)
    metrics = evaluate_on_test(
        model, tokenizer, label_names, "baseline", params.eval.batch_size, params.model.max_length
    )
    log.info("untuned model: accuracy %.4f, macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])


def main(argv=None) -> None:
    run_stage(baseline, __doc__, argv)


if __name__ == "__main__":
    main()
