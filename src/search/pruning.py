"""The train stage's side of a search trial: report each epoch's validation score, stop when pruned.

`python -m src.search` runs each trial as `dvc exp run` with TRIAL_ENV set to where the trial is
(storage URL, study, trial id, objective, pruner). The train stage then adds `TrialReporter` to
its Trainer callbacks. After each epoch's validation pass it reports the objective to the study.
When the pruner says the trial trails the others, training stops there. The stage still saves the
epoch kept and the pipeline still evaluates it, so a pruned trial is a whole experiment, marked
`search.pruned_at_epoch` in metrics/train.json. Outside a search nothing here runs.
"""

from __future__ import annotations

import json
import logging
import os

from transformers import TrainerCallback

log = logging.getLogger("search")

TRIAL_ENV = "LORAFLOW_TRIAL"


class TrialReporter(TrainerCallback):
    def __init__(self, where: dict):
        import optuna

        from src.search.study import make_pruner, storage_for

        self.where = where
        study = optuna.load_study(
            study_name=where["study"], storage=storage_for(where["storage"]), pruner=make_pruner(where["pruner"])
        )
        self.trial = optuna.trial.Trial(study, where["trial_id"])
        self.metric = f"eval_{where['objective']}"
        self.pruned_at_epoch: int | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        epoch = round(state.epoch or 0)
        value = (metrics or {}).get(self.metric)
        if value is None:
            return
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            self.pruned_at_epoch = epoch
            control.should_training_stop = True
            log.info(
                "search: trial %d pruned after epoch %d (validation %s %.4f trails the study)",
                self.where["number"],
                epoch,
                self.where["objective"],
                value,
            )

    def record(self) -> dict:
        """metrics/train.json `search`: which trial this run was, and whether it was pruned."""
        return {"study": self.where["study"], "trial": self.where["number"], "pruned_at_epoch": self.pruned_at_epoch}


def reporter_for_this_run() -> TrialReporter | None:
    where = os.environ.get(TRIAL_ENV)
    return TrialReporter(json.loads(where)) if where else None
