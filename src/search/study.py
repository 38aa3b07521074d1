"""The study: where it is stored, how it samples and prunes, and the worker loop that runs it.

A worker asks the study for a trial, runs it as a dvc experiment (trial.py), and tells the study
the result, until the study has its `search.trials`. Workers share nothing but the storage, so
`--workers N` on one machine and one worker on each of N machines run the same loop; a database
URL (PostgreSQL) is what lets machines share one study.

A worker that dies mid-trial stops its heartbeat. After `search.grace_s` another worker (or the
next one started) fails that trial and, up to `search.retries` times, queues a copy with the same
params, which the next free worker runs. A worker leaves only when no trial is left to run and
none is running elsewhere, so the study ends with all its trials even when a worker dies on the
last one.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import TrialState

from src.core.params import SearchParams
from src.core.paths import SEARCH_DIR
from src.search import space as search_space
from src.search.pruning import make_pruner, storage_for
from src.search.trial import TrialRun, clear_dead_runs, run_trial

log = logging.getLogger("search")

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# Heartbeats are Study.optimize's; ask/tell workers beat for their trials themselves (Heartbeat).
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own log says what each trial did

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
FAILURES_IN_A_ROW = 3  # a worker stops when this many of its trials fail in a row: the setup is broken


def study_folder(study: str) -> Path:
    return SEARCH_DIR / study


def storage_url(search: SearchParams, override: str | None = None) -> str:
    """The storage: `--storage`, else `search.storage`, else a SQLite file beside the report."""
    url = override or search.storage
    if url:
        return url
    return f"sqlite:///{study_folder(search.study) / 'study.db'}"


def make_sampler(search: SearchParams, seed: int) -> optuna.samplers.BaseSampler:
    if search.sampler == "grid":
        return optuna.samplers.GridSampler(search_space.grid(search.space), seed=seed)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: a trial still running counts as a poor result, so parallel workers spread out.
    return optuna.samplers.TPESampler(n_startup_trials=search.startup_trials, seed=seed, constant_liar=True)


def direction(search: SearchParams) -> str:
    return "minimize" if search.objective == "loss" else "maximize"


def open_study(search: SearchParams, url: str, attempts: int = 5) -> optuna.Study:
    """The study named `search.study` in the storage, created on first use by whichever worker comes first."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        try:
            study = optuna.create_study(
                study_name=search.study,
                storage=storage_for(url, search),
                sampler=make_sampler(search, search.seed),
                pruner=make_pruner(asdict(search.pruner)),
                direction=direction(search),
                load_if_exists=True,
            )
            break
        except (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError):
            # Machines started together on an empty database all create Optuna's tables; all but
            # one fail on what the first created (PostgreSQL: type "studydirection" already exists).
            if attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)
    if study.direction.name.lower() != direction(search):
        raise ValueError(f"study {search.study} in {url} already {study.direction.name.lower()}s; use another name")
    return study


class TrialsFailing(RuntimeError):
    """A worker's trials keep failing: a broken setup, not an unlucky trial."""


class Heartbeat:
    """Marks a trial alive every `interval` seconds while its experiment runs."""

    def __init__(self, storage: RDBStorage, trial_id: int, interval: int):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as error:  # a database hiccup must not end the beat (and so the trial)
                log.warning("heartbeat of trial %d not recorded: %s", self.trial_id, error)
            if self.stop.wait(self.interval):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@dataclass
class Progress:
    finished: int
    running: int
    waiting: int
    trials: int

    @property
    def next_step(self) -> str:
        if self.waiting:
            return "run"  # a retried trial waits for a worker
        if self.finished + self.running < self.trials:
            return "run"
        return "wait" if self.running else "done"


def progress(study: optuna.Study, trials: int) -> Progress:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return Progress(
        finished=sum(s in FINISHED for s in states),
        running=states.count(TrialState.RUNNING),
        waiting=states.count(TrialState.WAITING),
        trials=trials,
    )


def work(search: SearchParams, url: str, worker: str, push: str | None = None, poll_s: float = 5.0) -> int:
    """Run trials until the study has all of them; returns how many this worker ran."""
    study = open_study(search, url)
    distributions = search_space.distributions(search.space)
    ran, failures = 0, 0
    while True:
        fail_stale_trials(study)  # a dead worker's trial: failed, and queued again if retries are left
        clear_failed_runs(study, search.study, worker)
        now = progress(study, search.trials)
        if now.next_step == "done":
            log.info("[%s] the study has its %d trials; this worker ran %d", worker, search.trials, ran)
            return ran
        if now.next_step == "wait":
            time.sleep(min(poll_s, search.heartbeat_s))  # another worker's trial may still die and come back
            continue
        trial = ask(study, search, distributions)
        retried = RetryHeartbeatStaleTrialCallback.retried_trial_number(study._storage.get_trial(trial._trial_id))
        name = f"{search.study}-{trial.number:03d}"
        log.info(
            "[%s] trial %s%s: %s",
            worker,
            name,
            f" (trial {retried} again: its worker died)" if retried is not None else "",
            ", ".join(f"{k}={v}" for k, v in trial.params.items()),
        )
        with Heartbeat(study._storage, trial._trial_id, search.heartbeat_s):
            result = run_trial(
                TrialRun(
                    name=name,
                    number=trial.number,
                    trial_id=trial._trial_id,
                    study=search.study,
                    storage=url,
                    objective=search.objective,
                    pruner=search.pruner,
                    overrides={**search.fixed, **trial.params},
                    log_dir=study_folder(search.study) / "logs",
                )
            )
        ran += 1
        tell(study, trial, result, worker, push)
        failures = failures + 1 if result.error else 0
        if failures >= FAILURES_IN_A_ROW:
            raise TrialsFailing(
                f"[{worker}] {failures} trials in a row failed; the last: {result.error}. "
                f"Each trial's log is in {study_folder(search.study) / 'logs'}."
            )


def clear_failed_runs(study: optuna.Study, name: str, worker: str) -> None:
    """A worker killed in this clone left its trial's dvc run half-done: clear it once the study
    has failed that trial (in another clone there is nothing of it to clear)."""
    failed = {f"{name}-{t.number:03d}" for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    for run in clear_dead_runs(failed):
        log.info("[%s] removed what the killed run of %s left under .dvc/tmp/exps/", worker, run)


def ask(study: optuna.Study, search: SearchParams, distributions: dict) -> optuna.Trial:
    """The next trial: a retried one waiting for a worker, else the sampler's pick."""
    if search.sampler != "grid":  # the grid's order comes from its seed: one sampler throughout
        # Each ask draws from a sampler seeded by the study's size: one worker's run repeats
        # exactly, and parallel workers, asking at different sizes, draw differently.
        study.sampler = make_sampler(search, search.seed + len(study.get_trials(deepcopy=False)))
    return study.ask(distributions)


def tell(study: optuna.Study, trial: optuna.Trial, result, worker: str, push: str | None) -> None:
    """Record the trial's outcome in the study, then push its experiment."""
    try:
        if result.error:
            log.warning("[%s] trial %d failed: %s", worker, trial.number, result.error)
            record(study, trial, state=TrialState.FAIL)
            return
        for key, value in result.attrs().items():
            trial.set_user_attr(key, value)
        if result.pruned_at_epoch is not None:
            record(study, trial, state=TrialState.PRUNED)
            log.info("[%s] %s pruned after epoch %s", worker, result.name, result.pruned_at_epoch)
        else:
            record(study, trial, values=result.value)
            log.info("[%s] %s: validation %s %.4f", worker, result.name, result.objective, result.value)
    except optuna.exceptions.UpdateFinishedTrialError:
        # Its heartbeat went unrecorded for search.grace_s, so another worker failed it and queued
        # its params again; the experiment stays, outside the study.
        log.warning("[%s] trial %d was failed by another worker (no heartbeat); not counted", worker, trial.number)
        return
    if push:
        try:
            result.push(push)
        except subprocess.CalledProcessError as error:
            log.warning("[%s] dvc exp push %s %s failed (%s); push it later", worker, push, result.name, error)


def record(study: optuna.Study, trial: optuna.Trial, **outcome) -> None:
    """`study.tell`. The grid sampler calls study.stop() once every point is taken, which works
    only inside study.optimize and raises here, after the trial is recorded."""
    try:
        study.tell(trial, **outcome)
    except RuntimeError as error:
        if "Study.stop" not in str(error):
            raise
