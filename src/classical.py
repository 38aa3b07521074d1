"""Stage, classical: fit TF-IDF + logistic regression on the prepared train split, score it on test.

The cheap model a fine-tuned transformer has to beat. It reads the same prepared splits as the
other stages and writes its results in the same shape as baseline and evaluate. For multi-label
data it fits one logistic regression per label and tunes each label's threshold on validation
(`eval.thresholds`), as the fine-tuned model's are. Reads params `classical.*`,
`eval.calibration_bins` and `eval.thresholds`. Writes metrics/classical.json,
plots/classical/{confusion,calibration}.csv and data/predictions/classical.csv. Imports no torch.

    python -m src.classical      # or: dvc repro classical
"""

import logging

from src.core.cli import run_stage
from src.core.params import Params
from src.data.prepared import read_label_names, read_prepared, read_task, texts_of
from src.model.tfidf import class_probabilities, fit_tfidf_logreg
from src.scoring.predictions import evaluate_probabilities, write_evaluation
from src.scoring.tasks import TASKS

log = logging.getLogger("classical")


def classical() -> None:
    params = Params.load()
    label_names, task = read_label_names(), TASKS[read_task()]
    train, test = read_prepared("train"), read_prepared("test")
    # A text pair is one bag of words here: TF-IDF has no notion of which text a word came from.
    model = fit_tfidf_logreg(texts_of(train), task.targets(train["label"], len(label_names)), params.classical)
    thresholds = None
    if task.thresholded:
        validation = read_prepared("validation")
        y_true = task.targets(validation["label"], len(label_names))
        probabilities = class_probabilities(model, texts_of(validation).tolist(), len(label_names))
        thresholds = task.tune_thresholds(y_true, probabilities, params.eval.thresholds)
    probabilities = class_probabilities(model, texts_of(test).tolist(), len(label_names))
    evaluation = evaluate_probabilities(
        test, probabilities, label_names, params.eval.calibration_bins, task=task.name, thresholds=thresholds
    )
    write_evaluation("classical", evaluation)
    log.info("TF-IDF + logistic regression: %s", task.headline_text(evaluation.metrics))


def main(argv=None) -> None:
    run_stage(classical, __doc__, argv)


if __name__ == "__main__":
    main()
