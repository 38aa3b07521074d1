"""Stage, classical: fit TF-IDF + logistic regression on the prepared train split, score it on test.

The cheap model a fine-tuned transformer has to beat. It reads the same prepared splits as the
other stages and writes its results in the same shape as baseline and evaluate. Reads params
`classical.*`. Writes metrics/classical.json, plots/classical/confusion.csv and
data/predictions/classical.csv. Imports no torch.

    python -m src.classical      # or: dvc repro classical
"""

import logging

from src.core.cli import run_stage
from src.core.params import Params
from src.data.prepared import read_label_names, read_prepared, texts_of
from src.model.tfidf import class_probabilities, fit_tfidf_logreg
from src.scoring.predictions import evaluate_probabilities, write_evaluation

log = logging.getLogger("classical")


def classical() -> None:
    params = Params.load()
    label_names, train, test = read_label_names(), read_prepared("train"), read_prepared("test")
    # A text pair is one bag of words here: TF-IDF has no notion of which text a word came from.
    model = fit_tfidf_logreg(texts_of(train), train["label"], params.classical)
    probabilities = class_probabilities(model, texts_of(test).tolist(), len(label_names))
    evaluation = evaluate_probabilities(test, probabilities, label_names, params.eval.calibration_bins)
    write_evaluation("classical", evaluation)
    log.info(
        "TF-IDF + logistic regression: accuracy %.4f, macro-F1 %.4f",
        evaluation.metrics["accuracy"],
        evaluation.metrics["macro_f1"],
    )


def main(argv=None) -> None:
    run_stage(classical, __doc__, argv)


if __name__ == "__main__":
    main()
