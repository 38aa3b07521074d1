"""The train stage's side of a search trial: report each epoch's validation score, stop when pruned.

`python -m src.search` runs each trial as `dvc exp run` with TRIAL_ENV set to where the trial is
(storage URL, study, trial id, objective, pruner). The train stage then adds `TrialReporter` to
its Trainer callbacks. After each validation pass (`train.evals_per_epoch` an epoch) it reports
the objective to the study, keyed by hundredths of an epoch, so passes inside an epoch count and
trials of any batch size line up. When the pruner says the trial trails the others, training
stops there. The stage still saves the
epoch kept and the pipeline still evaluates it, so a pruned trial is a whole experiment, marked
`search.pruned_at_epoch` in metrics/train.json. Outside a search nothing here runs.

The storage and the pruner are built here too, the one place both the train stage and the
workers (study.py) take them from; optuna is imported only inside a trial.
"""

from __future__ import annotations

import json
import logging
import os

from transformers import TrainerCallback

log = logging.getLogger("search")

TRIAL_ENV = "LORAFLOW_TRIAL"
STEPS_PER_EPOCH = 100  # the study's step unit: a hundredth of an epoch


class TrialReporter(TrainerCallback):
    def __init__(self, where: dict):
        import optuna

        self.where = where
        study = optuna.load_study(
            study_name=where["study"], storage=storage_for(where["storage"]), pruner=make_pruner(where["pruner"])
        )
        self.trial = optuna.trial.Trial(study, where["trial_id"])
        self.metric = f"eval_{where['objective']}"
        self.pruned_at_epoch: int | float | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        from src.model.trainer import epochs_of

        epoch = epochs_of(state.epoch)
        value = (metrics or {}).get(self.metric)
        if value is None:
            return
        self.trial.report(value, step=round(epoch * STEPS_PER_EPOCH))
        if self.trial.should_prune():
            self.pruned_at_epoch = epoch
            control.should_training_stop = True
            log.info(
                "search: trial %d pruned after epoch %s (validation %s %.4f trails the study)",
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


def storage_for(url: str, search=None):
    """Optuna's SQL storage at `url`; given `search` (SearchParams), with heartbeats and retries."""
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    heartbeat = {}
    if search is not None:
        heartbeat = dict(
            heartbeat_interval=search.heartbeat_s,
            grace_period=search.grace_s,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=search.retries),
        )
    # SQLite serialises writers; several workers on one file wait for the lock instead of failing.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return RDBStorage(url, engine_kwargs=engine, **heartbeat)


def make_pruner(pruner: dict):
    """`search.pruner` (as a dict, since the train stage gets it through the environment)."""
    import optuna

    name = pruner["name"]
    if name == "median":
        # warmup_epochs may be fractional (0.5) where validation runs inside epochs.
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner["startup_trials"],
            n_warmup_steps=round(pruner["warmup_epochs"] * STEPS_PER_EPOCH),
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, round(pruner["warmup_epochs"] * STEPS_PER_EPOCH)))
    return optuna.pruners.NopPruner()
