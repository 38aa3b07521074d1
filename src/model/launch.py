"""Starting the train stage under a distributed launcher, for several GPUs.

`train.launcher` picks how: `python` runs the stage in its own process; `torchrun` or
`accelerate` re-run it as `train.processes` processes, and the Trainer, seeing the environment
those launchers set, trains with DistributedDataParallel. The stage command in dvc.yaml stays
`python -m src.train` either way, so switching launcher is a params change like any other.
"""

from __future__ import annotations

import os
import subprocess
import sys

from src.core.params import TrainParams

# Set in the launched processes, so the stage does not launch itself again.
LAUNCHED_ENV = "LORAFLOW_LAUNCHED"


def launch_command(train: TrainParams, module: str) -> list[str] | None:
    """The command that runs `python -m module` under `train.launcher`; None for plain python.

    The launchers are run as modules of this interpreter, so the venv's torch and accelerate are
    used whatever PATH holds.
    """
    if train.launcher == "python":
        return None
    if train.launcher == "torchrun":
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={train.processes}",
            "-m",
            module,
        ]
    multi = ["--multi_gpu"] if train.processes > 1 else []
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *multi,
        f"--num_processes={train.processes}",
        "-m",
        module,
    ]


def relaunch_if_needed(train: TrainParams, module: str) -> bool:
    """Run `module` under the configured launcher unless this process is already one of its
    workers. Returns True if it did (the caller then stops); exits with the launcher's code on failure."""
    command = launch_command(train, module)
    if command is None or os.environ.get(LAUNCHED_ENV):
        return False
    print("launching: " + " ".join(command[1:]), file=sys.stderr)
    result = subprocess.run(command, env={**os.environ, LAUNCHED_ENV: "1"}, check=False)
    if result.returncode:
        sys.exit(result.returncode)
    return True
