"""Run DVC's experiment queue to the end, starting a worker again when one left a task behind.

`dvc queue start` starts a worker that exits when it finds the queue empty. Workers have been seen
to exit with a task still `Queued` (`Worker status: 0 active, 0 idle`), which then waits forever.
`drain` starts the workers, watches `dvc queue status`, and when a task is queued and no worker
is alive on two looks in a row (a worker just starting is not yet counted), says so and starts one
again. It returns once nothing is queued or running.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass

log = logging.getLogger("queue")

WORKERS = re.compile(r"Worker status: (\d+) active, (\d+) idle")
STATES = ("Queued", "Running", "Success", "Failed")


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    state: str


@dataclass(frozen=True)
class QueueStatus:
    tasks: list[Task]
    active: int
    idle: int

    def count(self, state: str) -> int:
        return sum(task.state == state for task in self.tasks)

    @property
    def stranded(self) -> bool:
        """Tasks wait, none runs, and no worker is there to take them."""
        return self.count("Queued") > 0 and self.count("Running") == 0 and self.active == 0 and self.idle == 0

    @property
    def finished(self) -> bool:
        return self.count("Queued") == 0 and self.count("Running") == 0


def dvc(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed: {(done.stdout + done.stderr).strip()[-2000:]}")
    return done.stdout


def parse_status(output: str) -> QueueStatus:
    """`dvc queue status`: a table (Task, Name, Created, Status) and a `Worker status:` line."""
    tasks = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[-1] in STATES and fields[0] != "Task":
            tasks.append(Task(id=fields[0], name=fields[1], state=fields[-1]))
    workers = WORKERS.search(output)
    active, idle = (int(workers.group(1)), int(workers.group(2))) if workers else (0, 0)
    return QueueStatus(tasks, active, idle)


def status() -> QueueStatus:
    return parse_status(dvc("queue", "status"))


def drain(jobs: int = 1, poll_s: float = 5.0, timeout_s: float | None = None) -> QueueStatus:
    """`dvc queue start -j jobs`, then watch until nothing is queued or running."""
    dvc("queue", "start", "-j", str(jobs))
    return watch(jobs, poll_s, timeout_s)


def watch(jobs: int = 1, poll_s: float = 5.0, timeout_s: float | None = None) -> QueueStatus:
    """Wait until nothing is queued or running, starting workers again for tasks left behind."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    stranded_looks, restarts = 0, 0
    while True:
        now = status()
        if now.finished:
            if restarts:
                log.info("the queue is done; a worker was started again %d time(s) for a task left queued", restarts)
            return now
        stranded_looks = stranded_looks + 1 if now.stranded else 0
        if stranded_looks >= 2:
            waiting = [task.name for task in now.tasks if task.state == "Queued"]
            log.warning(
                "%d task(s) still queued (%s) with no live worker: starting a worker again",
                len(waiting),
                ", ".join(waiting),
            )
            dvc("queue", "start", "-j", str(jobs))
            stranded_looks, restarts = 0, restarts + 1
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"the queue is still busy after {timeout_s:.0f} s: {now.tasks}")
        time.sleep(poll_s)
