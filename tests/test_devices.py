import os

import pytest
import torch

from src.core.errors import ParamsError
from src.model.devices import (
    best_device,
    cpu_has_fast_bf16,
    resolve_precision,
    trainer_precision_args,
    use_available_cores,
)

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only choices")


def test_auto_picks_bf16_only_on_cpus_that_run_it_in_hardware():
    assert resolve_precision("auto") == ("bf16" if cpu_has_fast_bf16() else "fp32")
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"


def test_unknown_or_impossible_precision_is_a_params_error():
    with pytest.raises(ParamsError, match="train.precision is 'half'; use one of auto, fp32, bf16, fp16"):
        resolve_precision("half")
    with pytest.raises(ParamsError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")


def test_bf16_on_cpu_asks_the_trainer_for_cpu_autocast():
    assert trainer_precision_args("bf16") == {"bf16": True, "fp16": False, "use_cpu": True}
    assert trainer_precision_args("fp32") == {"bf16": False, "fp16": False, "use_cpu": False}


def test_one_thread_per_granted_core():
    before = torch.get_num_threads()
    try:
        assert use_available_cores() == len(os.sched_getaffinity(0)) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_evaluation_falls_back_to_the_cpu():
    expected = "mps" if torch.backends.mps.is_available() else "cpu"
    assert best_device().type == expected
