"""One trial, run as a dvc experiment and read back from the experiment itself.

`dvc exp run --temp` runs the pipeline in a copy of the repo under .dvc/tmp/exps/, so several
trials run at once in one clone, and the result exists only once dvc has committed it to the
experiment's git ref. The objective is read from that commit's metrics/train.json: what the
study is told is exactly what `dvc exp show` shows. A trial killed before the commit leaves no
experiment at all, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from src.core.params import PrunerParams
from src.search.pruning import TRIAL_ENV
from src.search.space import override

# Where `dvc exp run --temp` (dvc 3.67) records each run: <stash rev>/<stash rev>.run, with the
# run's name, its copy's root_dir and a status. A run killed midway stays "running" there, and
# `dvc exp show` lists it as running for as long as its copy exists.
TEMP_RUNS = Path(".dvc/tmp/exps/standalone/run")
RUN_FINISHED = 3  # dvc's TaskStatus.SUCCESS: 0-2 are pending, preparing, running

TRAIN_METRICS = "metrics/train.json"
TEST_METRICS = "metrics/finetuned.json"


@dataclass(frozen=True)
class TrialRun:
    name: str  # of the experiment: <study>-<number>
    number: int
    trial_id: int
    study: str
    storage: str
    objective: str
    pruner: PrunerParams
    overrides: dict[str, Any]
    log_dir: Path

    def command(self) -> list[str]:
        sets = [arg for key, value in self.overrides.items() for arg in ("-S", override(key, value))]
        return [sys.executable, "-m", "dvc", "exp", "run", "--temp", "-n", self.name, *sets]

    def environment(self) -> dict[str, str]:
        where = {
            "storage": self.storage,
            "study": self.study,
            "trial_id": self.trial_id,
            "number": self.number,
            "objective": self.objective,
            "pruner": asdict(self.pruner),
        }
        # Stage commands call `python`: make it this interpreter, whatever PATH says.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return os.environ | {TRIAL_ENV: json.dumps(where), "PATH": path}


@dataclass
class TrialResult:
    name: str
    objective: str
    error: str | None = None
    commit: str | None = None
    value: float | None = None
    pruned_at_epoch: int | None = None
    train: dict | None = None
    test: dict | None = None

    def attrs(self) -> dict[str, Any]:
        """What the study keeps of the experiment, for the report and for `dvc exp apply`."""
        return {
            "experiment": self.name,
            "commit": self.commit,
            "train_time_s": self.train["train_time_s"],
            "epochs_run": self.train["epochs_run"],
            "kept_epoch": self.train["kept"]["epoch"],
            "pruned_at_epoch": self.pruned_at_epoch,
            # Recorded for the report only; the study never sees a test score.
            "test_accuracy": self.test.get("accuracy"),
            "test_macro_f1": self.test.get("macro_f1"),
        }

    def push(self, remote: str) -> None:
        """`dvc exp push`: the experiment's git ref to the git remote, its outputs to the DVC remote."""
        subprocess.run([sys.executable, "-m", "dvc", "exp", "push", remote, self.name], check=True, capture_output=True)


def run_trial(run: TrialRun) -> TrialResult:
    run.log_dir.mkdir(parents=True, exist_ok=True)
    log_file = run.log_dir / f"{run.name}.log"
    with open(log_file, "w") as log:
        log.write(" ".join(run.command()) + "\n")
        log.flush()
        done = subprocess.run(run.command(), env=run.environment(), stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
        return TrialResult(run.name, run.objective, error=f"dvc exp run exited {done.returncode}: {' / '.join(tail)}")
    return read_experiment(run.name, run.objective)


def experiment_ref(name: str) -> str | None:
    """The git ref dvc keeps the experiment `name` under (refs/exps/<baseline>/<name>)."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    found = [line.split() for line in refs if line.split() and line.split()[0].rsplit("/", 1)[-1] == name]
    return found[-1][1] if found else None


def read_experiment(name: str, objective: str) -> TrialResult:
    commit = experiment_ref(name)
    if commit is None:
        return TrialResult(name, objective, error=f"dvc finished but no experiment {name} exists")

    def metrics(path: str) -> dict:
        shown = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True)
        return json.loads(shown.stdout) if shown.returncode == 0 else {}

    train = metrics(TRAIN_METRICS)
    if "validation" not in train:
        return TrialResult(name, objective, error=f"experiment {name} has no {TRAIN_METRICS} validation scores")
    return TrialResult(
        name=name,
        objective=objective,
        commit=commit,
        value=float(train["validation"][objective]),
        pruned_at_epoch=(train.get("search") or {}).get("pruned_at_epoch"),
        train=train,
        test=metrics(TEST_METRICS),
    )


def clear_dead_runs(names: set[str]) -> list[str]:
    """Remove what the killed runs of the trials `names` left in this clone: the copy under
    .dvc/tmp/exps/ and dvc's record of the run, so `dvc exp show` does not list them as running.
    Only trials the study has failed are named, so no live run is touched."""
    cleared = []
    for record in sorted(TEMP_RUNS.glob("*/*.run")):
        try:
            info = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if info.get("name") in names and info.get("status", RUN_FINISHED) < RUN_FINISHED:
            shutil.rmtree(info.get("root_dir") or "", ignore_errors=True)
            shutil.rmtree(record.parent, ignore_errors=True)
            cleared.append(info["name"])
    return cleared
