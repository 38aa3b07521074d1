"""Stage 2, baseline: score the untuned model on the test split.

The untuned model is the pretrained encoder with a fresh classification head drawn from
`model.head_seed`: exactly the model the train stage starts from. For multi-label data its
thresholds are tuned on validation as the fine-tuned model's are (`eval.thresholds`), so the
two are decided alike. Reads params `model.*`, `eval.batch_size`, `eval.calibration_bins` and
`eval.thresholds`. Writes metrics/baseline.json, plots/baseline/{confusion,calibration}.csv and
data/predictions/baseline.csv.

    python -m src.baseline       # or: dvc repro baseline
"""

import logging

from src.core.cli import run_stage
from src.core.params import Params
from src.data.prepared import read_label_names, read_prepared, read_task, text_inputs
from src.model.inference import predict_proba
from src.model.pretrained import load_classifier, load_tokenizer
from src.scoring.predictions import evaluate_probabilities, write_evaluation
from src.scoring.tasks import TASKS

log = logging.getLogger("baseline")


def baseline() -> None:
    params = Params.load()
    label_names, task = read_label_names(), TASKS[read_task()]
    tokenizer = load_tokenizer(params.model)
    model = load_classifier(params.model, label_names, task.problem_type)

    def probabilities(split: str):
        texts, pairs = text_inputs(read_prepared(split))
        return predict_proba(
            model,
            tokenizer,
            texts,
            params.eval.batch_size,
            params.model.max_length,
            desc=f"baseline: {split}",
            pairs=pairs,
            task=task.name,
        )

    thresholds = None
    if task.thresholded:
        validation = read_prepared("validation")
        y_true = task.targets(validation["label"], len(label_names))
        thresholds = task.tune_thresholds(y_true, probabilities("validation"), params.eval.thresholds)
    evaluation = evaluate_probabilities(
        read_prepared("test"),
        probabilities("test"),
        label_names,
        params.eval.calibration_bins,
        task=task.name,
        thresholds=thresholds,
    )
    write_evaluation("baseline", evaluation)
    log.info("untuned model: %s", task.headline_text(evaluation.metrics))


def main(argv=None) -> None:
    run_stage(baseline, __doc__, argv)


if __name__ == "__main__":
    main()
