"""The multi-GPU launch: the command the train stage re-runs itself under, built on CPU."""

import copy
import sys

import pytest
import yaml

from src.core.params import Params
from src.core.paths import PARAMS_FILE
from src.model import launch


def train_params(**overrides):
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    raw["train"].update(overrides)
    return Params.from_dict(copy.deepcopy(raw)).train


def test_python_launcher_runs_in_process():
    assert launch.launch_command(train_params(), "src.train") is None
    assert launch.relaunch_if_needed(train_params(), "src.train") is False


def test_torchrun_command_starts_one_process_per_gpu():
    command = launch.launch_command(train_params(launcher="torchrun", processes=4), "src.train")
    assert command == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=4",
        "-m",
        "src.train",
    ]


@pytest.mark.parametrize(("processes", "multi"), [(1, []), (2, ["--multi_gpu"])])
def test_accelerate_command(processes, multi):
    command = launch.launch_command(train_params(launcher="accelerate", processes=processes), "src.train")
    assert command == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *multi,
        f"--num_processes={processes}",
        "-m",
        "src.train",
    ]


def test_launcher_commands_parse_with_the_real_launchers():
    """Each command's flags are ones the installed torchrun and accelerate accept."""
    from accelerate.commands.launch import launch_command_parser
    from torch.distributed.run import get_args_parser

    torchrun = launch.launch_command(train_params(launcher="torchrun", processes=2), "src.train")
    parsed = get_args_parser().parse_args(torchrun[3:])
    assert parsed.nproc_per_node == "2" and parsed.module and parsed.training_script == "src.train"
    accelerate = launch.launch_command(train_params(launcher="accelerate", processes=2), "src.train")
    parsed = launch_command_parser().parse_args(accelerate[3:])
    assert parsed.multi_gpu and parsed.num_processes == 2 and parsed.module and parsed.training_script == "src.train"


def test_a_launched_worker_does_not_launch_again(monkeypatch):
    monkeypatch.setenv(launch.LAUNCHED_ENV, "1")
    assert launch.relaunch_if_needed(train_params(launcher="torchrun", processes=2), "src.train") is False


def test_relaunch_runs_the_command_with_the_marker_and_passes_failure_on(monkeypatch):
    monkeypatch.delenv(launch.LAUNCHED_ENV, raising=False)
    calls = []

    class Finished:
        returncode = 3

    def fake_run(command, env, check):
        calls.append((command, env[launch.LAUNCHED_ENV]))
        return Finished()

    monkeypatch.setattr(launch.subprocess, "run", fake_run)
    with pytest.raises(SystemExit) as exit_info:
        launch.relaunch_if_needed(train_params(launcher="torchrun", processes=2), "src.train")
    assert exit_info.value.code == 3
    assert calls == [(launch.launch_command(train_params(launcher="torchrun", processes=2), "src.train"), "1")]
