"""Search hyperparameters with Optuna; every trial is a dvc experiment named <study>-<number>.

Reads params.yaml `search` (the space, objective, trials, sampler, pruner, storage). Each trial
runs `dvc exp run --temp -n <study>-<number> -S key=value ...`, reports its validation score after
every epoch (so the pruner can stop it) and is then shown, diffed, applied and pushed like any
experiment. At the end, reports/search/<study>/report.md has the trials, the best params,
parameter importances and the optimisation history.

    python -m src.search                       # one worker, SQLite storage beside the report
    python -m src.search --workers 2           # two trials at a time, the CPU cores split between them
    python -m src.search --storage postgresql://user:pass@host/db --push origin   # on each machine
    python -m src.search --report              # rewrite the report from the storage

docs/SEARCH.md has the guide, including several machines on one study.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import signal
import subprocess
import sys

from src.core.cli import command_parser, run_command
from src.core.errors import ParamsError
from src.core.params import Params, SearchParams
from src.model.methods import METHODS
from src.search import space as search_space
from src.search.report import write_report
from src.search.study import TrialsFailing, open_study, progress, storage_url, study_folder, work

log = logging.getLogger("search")


def parser() -> argparse.ArgumentParser:
    p = command_parser(__doc__)
    p.add_argument("--workers", type=int, default=1, help="trials run at once on this machine (default 1)")
    p.add_argument("--storage", help="Optuna storage URL (overrides search.storage), e.g. postgresql://...")
    p.add_argument("--trials", type=int, help="trials in the study (overrides search.trials)")
    p.add_argument("--push", metavar="REMOTE", help="`dvc exp push REMOTE` each trial (git remote; DVC's default)")
    p.add_argument("--report", action="store_true", help="only write the report of the study in the storage")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # set on the processes --workers starts
    return p


def checked_search(params: Params, trials: int | None) -> SearchParams:
    """search.* with --trials applied, refused before any trial runs where it cannot work."""
    search = params.search if trials is None else dataclasses.replace(params.search, trials=trials)
    method = search.fixed.get("peft.method", params.peft.method)
    for key in search.space:
        section = key.split(".")[0]
        if section in METHODS and section != method and "peft.method" not in search.space:
            raise ParamsError(
                f"params.yaml: search.space varies {key}, but the trials train {method} (peft.method), which "
                f"never reads the {section} section; set peft.method: {section} or search its own keys."
            )
    if search.sampler == "grid":
        size = search_space.grid_size(search.space)
        if size != search.trials:
            log.info("grid sampler: %d combinations, so %d trials (not search.trials %d)", size, size, search.trials)
        search = dataclasses.replace(search, trials=size)
    return search


def check_repo(push: str | None) -> None:
    """Trials are experiments of the current commit; pushing needs the git remote."""
    if subprocess.run(["git", "rev-parse", "--verify", "HEAD"], capture_output=True).returncode != 0:
        raise ParamsError("python -m src.search needs a git repository with a commit: dvc experiments branch off it.")
    if push and subprocess.run(["git", "remote", "get-url", push], capture_output=True).returncode != 0:
        raise ParamsError(f"--push {push}: no git remote of that name (git remote add {push} <url>).")


def cores_for(worker: int, workers: int) -> list[int]:
    """This worker's share of the CPU cores this process may use: torch in its trials runs one
    thread per core it is given (src/model/devices.py), so N workers never oversubscribe."""
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        return [cores[worker % len(cores)]]
    share = len(cores) // workers
    return cores[worker * share : (worker + 1) * share]


def start_workers(args, url: str) -> None:
    """Start --workers processes (each its own process group) and wait for them all."""
    cores = len(os.sched_getaffinity(0))
    if args.workers > cores:
        log.warning("%d workers on %d cores: some share a core", args.workers, cores)
    workers = []
    for index in range(args.workers):
        command = [sys.executable, "-m", "src.search", "--worker", str(index), "--workers", str(args.workers)]
        command += ["--storage", url] + (["--trials", str(args.trials)] if args.trials else [])
        command += ["--push", args.push] if args.push else []
        workers.append(subprocess.Popen(command, start_new_session=True))
        log.info("worker %d started (pid %d) on cores %s", index, workers[-1].pid, cores_for(index, args.workers))
    try:
        codes = [worker.wait() for worker in workers]
    except KeyboardInterrupt:
        for worker in workers:  # each worker's group holds its dvc exp run and training
            os.killpg(worker.pid, signal.SIGTERM)
        raise
    for index, code in enumerate(codes):
        if code != 0:
            log.warning("worker %d exited with %d; the others took over its trials", index, code)


def search(args) -> None:
    params = Params.load()
    settings = checked_search(params, args.trials)
    if args.worker is None and not args.report:  # refused here, before any trial starts
        if args.workers < 1:
            raise ParamsError(f"--workers is {args.workers}; use 1 or more.")
        check_repo(args.push)
    url = storage_url(settings, args.storage)
    if args.worker is not None:  # one of the processes that --workers started
        os.sched_setaffinity(0, cores_for(args.worker, args.workers))
        run_worker(settings, url, f"worker {args.worker}", args.push)
        return
    if not args.report:
        opened(settings, url)  # created once here, before the workers race to
        log.info(
            "study %s in %s: %d trials, objective validation %s",
            settings.study,
            redacted(url),
            settings.trials,
            settings.objective,
        )
        if args.workers == 1:
            run_worker(settings, url, "worker 0", args.push, exit_on_failure=False)
        else:
            start_workers(args, url)
    study = opened(settings, url)
    report = write_report(study, settings.objective, settings.fixed, study_folder(settings.study))
    now = progress(study, settings.trials)
    log.info("%d of %d trials finished; report: %s", now.finished, settings.trials, report)
    if not args.report and now.finished < settings.trials:
        log.error("the study is short of %d trial(s): see the log above", settings.trials - now.finished)
        sys.exit(1)


def opened(settings: SearchParams, url: str):
    """The study, or a one-line error naming the storage when it cannot be reached or read."""
    import sqlalchemy

    try:
        return open_study(settings, url)
    except (ImportError, sqlalchemy.exc.SQLAlchemyError) as error:
        cause = error.__cause__ or error
        raise ParamsError(
            f"cannot open study {settings.study} in {redacted(url)}: {type(cause).__name__}: "
            f"{str(cause).strip().splitlines()[0]} (check --storage or search.storage, and that the database is up)"
        ) from None


def redacted(url: str) -> str:
    """A storage URL with its password hidden, for messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def run_worker(settings: SearchParams, url: str, name: str, push: str | None, exit_on_failure: bool = True) -> None:
    try:
        work(settings, url, name, push=push)
    except TrialsFailing as error:
        log.error("%s", error)
        if exit_on_failure:
            sys.exit(1)


def main(argv=None) -> None:
    run_command(search, parser(), argv)


if __name__ == "__main__":
    main()
