"""The search for real: trials are `dvc exp run` of the shrunken project (tests/conftest.py), on
the real MiniLM and emotion rows; workers are real processes, the shared study a real
PostgreSQL server started here, the remotes a bare git repository and a local DVC remote.

One repro'd project is pushed to the remotes; each test works in its own clone of it, as a user
on another machine would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import copy_shrunken_project, stage_environment

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=stage_environment(), capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{(done.stdout + done.stderr)[-5000:]}"
    return done.stdout + done.stderr


def dvc(*args: str, cwd: Path) -> str:
    return run(sys.executable, "-m", "dvc", *args, cwd=cwd)


def start_search(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "src.search", *args],
            cwd=cwd,
            env=stage_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a test that fails midway can stop all of it
        )


def finish(process: subprocess.Popen, log: Path, timeout_s: float = 900) -> str:
    try:
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"search still running after {timeout_s} s:\n{log.read_text()[-5000:]}") from None
    output = log.read_text()
    assert code == 0, f"search exited {code}:\n{output[-5000:]}"
    return output


def experiments(clone: Path) -> set[str]:
    refs = run("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=clone).split()
    return {ref.rsplit("/", 1)[-1] for ref in refs}


def trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="lora", storage=url).get_trials()


def assert_every_finished_trial_is_one_experiment(study_trials, names: set[str]) -> None:
    finished = [t for t in study_trials if t.state in FINISHED]
    assert len(finished) >= 3, [(t.number, t.state) for t in study_trials]
    assert {t.user_attrs["experiment"] for t in finished} == {f"lora-{t.number:03d}" for t in finished}
    assert names == {f"lora-{t.number:03d}" for t in finished}  # no experiment of a trial that did not finish


@pytest.fixture(scope="module")
def remotes(tmp_path_factory, emotion_dir) -> dict[str, Path]:
    """The shrunken project, repro'd and committed, pushed to a bare git remote and a DVC remote."""
    root = tmp_path_factory.mktemp("search")
    project = copy_shrunken_project(root / "origin", emotion_dir)
    git, storage = root / "remote.git", root / "dvc-storage"
    run("git", "init", "-q", "--bare", "-b", "main", git)
    run("git", "init", "-q", "-b", "main", cwd=project)
    dvc("remote", "add", "-d", "shared", str(storage), cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-qm", "shrunken project", cwd=project)
    dvc("repro", cwd=project)
    run("git", "add", "-A", cwd=project)
    run("git", "commit", "-qm", "dvc repro", cwd=project)
    run("git", "remote", "add", "origin", git, cwd=project)
    run("git", "push", "-q", "origin", "main", cwd=project)
    dvc("push", cwd=project)
    return {"git": git, "root": root}


def clone(remotes: dict[str, Path], name: str) -> Path:
    """A user's clone on another machine: `git clone` and `dvc pull`."""
    path = remotes["root"] / name
    run("git", "clone", "-q", remotes["git"], path)
    dvc("pull", cwd=path)
    return path


def test_a_worker_killed_mid_trial_leaves_its_trial_failed_and_rerun_and_the_study_finishes(remotes):
    project = clone(remotes, "killed")
    log = project.parent / "killed.log"
    search = start_search("--workers", "2", cwd=project, log=log)
    try:
        deadline = time.monotonic() + 300
        while not re.search(r"\[worker 1\] trial lora-\d+", log.read_text()):
            assert time.monotonic() < deadline and search.poll() is None, log.read_text()[-3000:]
            time.sleep(1)
        time.sleep(12)  # into its training, well before its experiment is committed
        text = log.read_text()
        worker_pid = int(re.search(r"worker 1 started \(pid (\d+)\)", text).group(1))
        killed = re.search(r"\[worker 1\] trial (lora-\d+): (.*)", text)
        os.killpg(worker_pid, signal.SIGKILL)  # the worker, its dvc exp run and its training, as a machine dies
        output = finish(search, log)
    finally:
        if search.poll() is None:
            os.killpg(search.pid, signal.SIGKILL)

    assert "worker 1 exited with -9; the others took over its trials" in output
    url = f"sqlite:///{project / 'reports/search/lora/study.db'}"
    study_trials = trials(url)
    failed = [t for t in study_trials if t.state == TrialState.FAIL]
    assert [f"lora-{t.number:03d}" for t in failed] == [killed.group(1)]
    retried = [t for t in study_trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retried) == 1 and retried[0].state in FINISHED and retried[0].params == failed[0].params
    assert f"(trial {failed[0].number} again: its worker died)" in output
    assert f"removed what the killed run of {killed.group(1)} left under .dvc/tmp/exps/" in output
    assert_every_finished_trial_is_one_experiment(study_trials, experiments(project))

    shown = json.loads(exp_show_json(project))
    listed = {exp["name"] for commit in shown for exp in commit.get("experiments") or []}
    assert listed == experiments(project)
    report = (project / "reports/search/lora/report.md").read_text()
    assert f"| {failed[0].number} | failed |" in report and "dvc exp apply lora-" in report


def exp_show_json(project: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"],
        cwd=project,
        env=stage_environment(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> str:
    """A real PostgreSQL server (Debian's, which install.sh installs) in a temporary folder, on
    loopback only; yields the URL of an empty database. PostgreSQL refuses to run as root, so
    under root it runs as the `postgres` user that Debian's package creates."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    bin_dir = found[-1].parent if found else Path(shutil.which("initdb") or "initdb").parent
    if not (bin_dir / "initdb").exists():
        pytest.fail("PostgreSQL's initdb is missing: run install.sh (it installs Debian's postgresql).")
    root = Path(tempfile.mkdtemp(prefix="loraflow-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    run(*as_user, bin_dir / "initdb", "-D", root / "data", "-U", "loraflow", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    run(*as_user, bin_dir / "pg_ctl", "-D", root / "data", "-l", root / "server.log", "-o", options, "-w", "start")
    try:
        run(*as_user, bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "loraflow", "loraflow")
        yield f"postgresql://loraflow@127.0.0.1:{port}/loraflow"
    finally:
        run(*as_user, bin_dir / "pg_ctl", "-D", root / "data", "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_machines_share_one_study_in_postgresql_and_each_sees_every_trial(remotes, postgres):
    machines = [clone(remotes, "machine-a"), clone(remotes, "machine-b")]
    logs = [machine.parent / f"{machine.name}.log" for machine in machines]
    searches = [
        start_search("--storage", postgres, "--push", "origin", cwd=machine, log=log)
        for machine, log in zip(machines, logs, strict=True)
    ]
    try:
        outputs = [finish(search, log) for search, log in zip(searches, logs, strict=True)]
    finally:
        for search in searches:
            if search.poll() is None:
                os.killpg(search.pid, signal.SIGKILL)

    study_trials = trials(postgres)
    ran_by = [set(re.findall(r"\] trial (lora-\d+)", output)) for output in outputs]
    assert ran_by[0] and ran_by[1] and not ran_by[0] & ran_by[1]  # both machines ran trials, none twice
    assert all(t.state in FINISHED for t in study_trials)
    for machine in machines:
        dvc("exp", "pull", "origin", cwd=machine)
    for machine in machines:
        assert_every_finished_trial_is_one_experiment(study_trials, experiments(machine))
    # The other machine's trial, applied here: its outputs came through the DVC remote.
    other = sorted(ran_by[1])[0]
    dvc("exp", "apply", other, cwd=machines[0])
    method = json.loads((machines[0] / "models/finetuned/method.json").read_text())
    trial = next(t for t in study_trials if f"lora-{t.number:03d}" == other)
    assert method["training"]["params"]["lora"]["r"] == trial.params["lora.r"]
