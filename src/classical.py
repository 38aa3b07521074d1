"""Stage, classical: fit TF-IDF + logistic regression on the prepared train split, score it on test.

The cheap model a fine-tuned transformer has to beat. It reads the same prepared splits as the
other stages and writes its results in the same shape as baseline and evaluate. Reads params
`classical.*`. Writes metrics/classical.json, plots/classical/confusion.csv and
data/predictions/classical.csv.

    python -m src.classical      # or: dvc repro classical
"""

import logging

from src.cli import run_stage
from src.data import read_label_names, read_prepared
from src.evaluation import score_and_write
from src.params import Params
from src.tfidf import class_probabilities, fit_tfidf_logreg

log = logging.getLogger("classical")


def classical() -> None:
    params = Params.load()
    label_names = read_label_names()
    train, test = read_prepared("train"), read_prepared("test")
    model = fit_tfidf_logreg(train["text"], train["label"], params.classical)
    probabilities = class_probabilities(model, test["text"].tolist(), len(label_names))
    metrics = score_and_write("classical", test, probabilities, label_names)
    log.info("TF-IDF + logistic regression: accuracy %.4f, macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])


def main(argv=None) -> None:
    run_stage(classical, __doc__, argv)


if __name__ == "__main__":
    main()
