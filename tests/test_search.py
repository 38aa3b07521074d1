"""The search's parts that need no training: its params, the space as Optuna sees it and as
`dvc exp run -S` reads it, the study's bookkeeping of dead workers, the report, and reading
`dvc queue status`. The trials themselves run for real in tests/test_search_e2e.py."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from src.core.errors import ParamsError
from src.core.params import Params
from src.core.paths import PARAMS_FILE, PROJECT_ROOT
from src.search import space
from src.search.__main__ import checked_search, cores_for
from src.search.queue import parse_status
from src.search.report import write_report
from src.search.study import open_study, progress, storage_for

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture
def raw_params() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def with_search(raw: dict, **changes) -> dict:
    raw = copy.deepcopy(raw)
    raw["search"].update(changes)
    return raw


def test_the_repository_search_loads_and_names_existing_keys(raw_params):
    search = Params.from_dict(raw_params).search
    assert search.space and all(key.count(".") >= 1 for key in search.space)
    assert set(space.distributions(search.space)) == set(search.space)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"space": {"lora.rr": {"choices": [4, 8]}}}, r"names 'lora.rr'.*did you mean 'lora.r'"),
        ({"space": {"train.batch": {"choices": [8]}}}, r"names 'train.batch'.*did you mean 'train.batch_size'"),
        ({"space": {"lora.learning_rate": {"low": 0, "high": 0.01, "log": True}}}, r"log scale needs low > 0"),
        ({"space": {"lora.learning_rate": {"low": 0.01, "high": 0.001}}}, r"low must be below high"),
        ({"space": {"lora.r": {"choices": []}}}, r"lora.r.choices is \[\]; use a non-empty list"),
        ({"space": {"lora.r": [4, 8]}}, r"use \{choices: \[a, b, ...\]\} or \{low: x, high: y\}"),
        ({"space": {}}, r"search.space is empty"),
        ({"space": {"search.trials": {"choices": [1, 2]}}}, r"cannot vary its own settings"),
        ({"fixed": {"lora.r": 4}, "space": {"lora.r": {"choices": [4, 8]}}}, r"lora.r is both fixed and searched"),
        ({"study": "my study"}, r"search.study is 'my study'; use letters, digits"),
        ({"objective": "test_accuracy"}, r"search.objective is 'test_accuracy'; use one of macro_f1, accuracy, loss"),
        ({"heartbeat_s": 30, "grace_s": 30}, r"grace_s \(30\) must exceed search.heartbeat_s \(30\)"),
        ({"sampler": "bayes"}, r"search.sampler is 'bayes'; use one of tpe, random, grid"),
    ],
)
def test_bad_search_params_are_named(raw_params, changes, message):
    with pytest.raises(ParamsError, match=message):
        Params.from_dict(with_search(raw_params, **changes))


def test_a_space_on_a_method_the_trials_do_not_train_is_refused(raw_params):
    raw = with_search(raw_params, space={"ia3.learning_rate": {"low": 0.001, "high": 0.1, "log": True}})
    with pytest.raises(ParamsError, match=r"varies ia3.learning_rate, but the trials train lora"):
        checked_search(Params.from_dict(raw), None)
    raw["search"]["fixed"]["peft.method"] = "ia3"  # fixed on every trial: fine
    assert checked_search(Params.from_dict(raw), None).space


def test_the_grid_sampler_runs_every_combination_and_needs_choices(raw_params):
    grid = {"lora.r": {"choices": [4, 8, 16]}, "lora.alpha": {"low": 8, "high": 32, "step": 8}}
    search = checked_search(Params.from_dict(with_search(raw_params, sampler="grid", trials=2, space=grid)), None)
    assert search.trials == 3 * 4
    assert space.grid(search.space)["lora.alpha"] == [8, 16, 24, 32]
    ranged = {"lora.learning_rate": {"low": 0.001, "high": 0.01}}
    with pytest.raises(ParamsError, match=r"sampler is grid, but search.space.lora.learning_rate is a range"):
        checked_search(Params.from_dict(with_search(raw_params, sampler="grid", space=ranged)), None)


def test_space_becomes_optuna_distributions(raw_params):
    found = space.distributions(
        {
            "lora.learning_rate": {"low": 1e-4, "high": 1e-2, "log": True, "step": None},
            "lora.r": {"low": 4, "high": 32, "log": True, "step": None},
            "train.batch_size": {"low": 8, "high": 64, "log": False, "step": 8},
            "lora.alpha": {"choices": [8, 16]},
        }
    )
    assert found["lora.learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert found["lora.r"] == IntDistribution(4, 32, log=True)
    assert found["train.batch_size"] == IntDistribution(8, 64, step=8)
    assert found["lora.alpha"] == CategoricalDistribution([8, 16])


@pytest.mark.parametrize("value", [1e-05, 0.00031622776601683794, 3, True, None, "all-linear", ["query", "value"]])
def test_overrides_read_back_as_the_value_dvc_and_params_yaml_get(value):
    key, text = space.override("lora.x", value).split("=", 1)
    assert key == "lora.x"
    read = yaml.safe_load(text)  # PyYAML, as params.yaml is read; `1e-05` would come back a string
    assert read == value and type(read) is type(value)


def test_workers_split_the_cores_without_overlap():
    import os

    cores = sorted(os.sched_getaffinity(0))
    shares = [cores_for(i, len(cores)) for i in range(len(cores))]
    assert sorted(core for share in shares for core in share) == cores
    assert cores_for(0, 1) == cores


def test_a_trial_whose_worker_died_is_failed_after_the_grace_period_and_queued_again(tmp_path, raw_params):
    """What a killed worker leaves: a RUNNING trial whose heartbeat stopped. The next look at the
    study fails it and queues a copy with the same params for the next free worker."""
    search = Params.from_dict(with_search(raw_params, heartbeat_s=1, grace_s=2, retries=1, trials=2)).search
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = open_study(search, url)
    trial = study.ask(space.distributions(search.space))
    study._storage.record_heartbeat(trial._trial_id)
    assert progress(study, search.trials).next_step == "run"  # one more trial to start
    study.tell(study.ask(space.distributions(search.space)), 0.5)
    assert progress(study, search.trials).next_step == "wait"  # all started; one still running
    time.sleep(3)  # no heartbeat: the worker died
    optuna.storages.fail_stale_trials(study)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.WAITING]
    retry = study.get_trials()[-1]
    assert retry.params == trial.params and retry.system_attrs["failed_trial"] == trial.number
    assert progress(study, search.trials).next_step == "run"
    again = study.ask(space.distributions(search.space))
    assert again.params == trial.params  # the next worker runs the same params
    study.tell(again, 0.6)
    assert progress(study, search.trials).next_step == "done"


def test_the_report_has_the_best_trial_how_to_apply_it_importances_and_history(tmp_path, raw_params):
    search = Params.from_dict(raw_params).search
    study = optuna.create_study(storage=storage_for(f"sqlite:///{tmp_path / 's.db'}"), direction="maximize")
    distributions = space.distributions(search.space)
    for number, (rate, r, value, state) in enumerate(
        [
            (0.001, 8, 0.61, "COMPLETE"),
            (0.003, 16, 0.72, "COMPLETE"),
            (0.0004, 4, 0.3, "PRUNED"),
            (0.002, 4, 0.66, "COMPLETE"),
        ]
    ):
        params = {"lora.learning_rate": rate, "lora.r": r, "lora.alpha": 16}
        study.add_trial(
            optuna.create_trial(
                params=params,
                distributions=distributions,
                value=value if state == "COMPLETE" else None,
                intermediate_values={1: value},
                state=TrialState[state],
                user_attrs={
                    "experiment": f"lora-{number:03d}",
                    "epochs_run": 3 if state == "COMPLETE" else 1,
                    "test_accuracy": 0.5 + value / 2,
                    "test_macro_f1": value,
                },
            )
        )
    report = write_report(study, "macro_f1", {"train.epochs": 3}, tmp_path / "out")
    text = report.read_text()
    assert "Trial 1, experiment `lora-001`: validation macro_f1 **0.7200**" in text
    assert "dvc exp apply lora-001" in text
    assert "Its test accuracy 0.8600, macro-F1 0.7200 (recorded with the experiment; the study never sees" in text
    assert "dvc exp run -S 'lora.learning_rate=0.003' -S 'lora.r=16' -S 'lora.alpha=16'" in text
    assert "4 trials: 3 complete, 1 pruned" in text and "| 2 | pruned | lora-002 |" in text
    assert "## Parameter importances" in text
    for figure in ("history.png", "importances.png"):
        assert (tmp_path / "out" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "out" / "trials.csv").read_text().splitlines()) == 5


def test_queue_status_is_read_with_its_workers():
    # `dvc queue status` as dvc 3.67 prints it, two tasks queued and no worker alive.
    output = (
        "Task     Name        Created    Status\n"
        "c61e4b5  left        03:21 AM   Queued\n"
        "d026f61  wrong-huck  03:21 AM   Running\n"
        "\n"
        "Worker status: 1 active, 0 idle\n"
    )
    status = parse_status(output)
    assert [(t.name, t.state) for t in status.tasks] == [("left", "Queued"), ("wrong-huck", "Running")]
    assert (status.active, status.idle) == (1, 0) and not status.stranded and not status.finished
    stranded = parse_status(output.replace("Running", "Success").replace("1 active", "0 active"))
    assert stranded.stranded and not stranded.finished
    assert parse_status("No experiment tasks in the queue.\n\nWorker status: 0 active, 0 idle\n").finished


def run_search(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "src.search", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--push", "nowhere"], "--push nowhere: no git remote of that name (git remote add nowhere <url>)"),
        (["--workers", "0"], "--workers is 0; use 1 or more"),
        (
            ["--storage", "postgresql://me:secret@127.0.0.1:1/loraflow"],  # nothing listens on port 1
            "cannot open study lora in postgresql://me:***@127.0.0.1:1/loraflow: OperationalError",
        ),
    ],
)
def test_bad_command_lines_stop_before_any_trial_with_the_fix(tmp_path, args, message):
    for name in ("params.yaml", "src"):
        copy = shutil.copytree if (PROJECT_ROOT / name).is_dir() else shutil.copy2
        copy(PROJECT_ROOT / name, tmp_path / name)
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess_run(["git", *command], tmp_path)
    done = run_search(*args, cwd=tmp_path)
    assert done.returncode == 1 and f"error: {message}" in done.stderr, done.stderr[-2000:]
    assert "secret" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists()  # no study, no report


def test_outside_a_git_repository_the_search_says_why(tmp_path):
    shutil.copy2(PROJECT_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(PROJECT_ROOT / "src", tmp_path / "src")
    done = run_search(cwd=tmp_path)
    assert done.returncode == 1 and "needs a git repository with a commit" in done.stderr, done.stderr[-2000:]


def subprocess_run(command, cwd):
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("sampler", ["grid", "tpe"])
def test_a_worker_asks_for_every_grid_point_once_and_repeats_its_draws(tmp_path, raw_params, sampler):
    from src.search.study import ask, record

    grid = {"lora.learning_rate": {"choices": [0.0003, 0.001, 0.003]}, "lora.r": {"choices": [4, 8, 16]}}
    search = checked_search(Params.from_dict(with_search(raw_params, sampler=sampler, space=grid, trials=9)), None)
    draws = []
    for run in range(2):
        study = open_study(search, f"sqlite:///{tmp_path / f'{run}.db'}")
        points = []
        for _ in range(9):
            trial = ask(study, search, space.distributions(search.space))
            points.append(tuple(trial.params.values()))
            record(study, trial, values=0.5)  # the grid's last tell would call study.stop()
        draws.append(points)
    assert draws[0] == draws[1]  # the same seed, the same trials
    if sampler == "grid":
        assert len(set(draws[0])) == 9


def test_only_the_failed_trials_unfinished_runs_are_cleared(tmp_path, monkeypatch):
    """dvc's record of a `dvc exp run --temp` (as dvc 3.67 writes it) and its copy: a killed
    run stays `running` (status 2) and `dvc exp show` lists it while the copy exists."""
    import json

    from src.search.trial import TEMP_RUNS, clear_dead_runs

    monkeypatch.chdir(tmp_path)
    for rev, name, status in [("a1", "lora-001", 2), ("b2", "lora-002", 2), ("c3", "lora-003", 6)]:
        copy = tmp_path / ".dvc/tmp/exps/standalone" / f"tmp{rev}"
        copy.mkdir(parents=True)
        (TEMP_RUNS / rev).mkdir(parents=True)
        record = {"name": name, "root_dir": str(copy), "status": status}
        (TEMP_RUNS / rev / f"{rev}.run").write_text(json.dumps(record))
    # lora-001 was failed by the study; lora-002 still runs; lora-003 finished.
    assert clear_dead_runs({"lora-001", "lora-003"}) == ["lora-001"]
    left = sorted(p.name for p in (tmp_path / ".dvc/tmp/exps/standalone").iterdir())
    assert left == ["run", "tmpb2", "tmpc3"] and sorted(p.name for p in TEMP_RUNS.iterdir()) == ["b2", "c3"]


def test_the_pruner_counts_hundredths_of_an_epoch_so_passes_inside_an_epoch_can_prune():
    """Validation passes are reported at round(100 x epoch): with `warmup_epochs: 0.5` a trial
    can be pruned at its half-epoch pass, but not at a pass before it."""
    from src.search.pruning import STEPS_PER_EPOCH, make_pruner

    pruner = make_pruner({"name": "median", "startup_trials": 2, "warmup_epochs": 0.5})
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for _ in range(2):
        trial = study.ask()
        for step in (25, 50, 100):
            trial.report(0.8, step=step)
        study.tell(trial, 0.8)
    trailing = study.ask()
    trailing.report(0.1, step=STEPS_PER_EPOCH // 4)
    assert not trailing.should_prune()  # a quarter epoch: still warming up
    trailing.report(0.1, step=STEPS_PER_EPOCH // 2)
    assert trailing.should_prune()
