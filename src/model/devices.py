"""Which device and numeric precision the stages run on, and how many CPU threads they use.

The Trainer picks CUDA (or Apple MPS) by itself when present; evaluation asks `best_device`.
This module also decides the precision training runs in (`train.precision`) and the CPU thread
count.
"""

from __future__ import annotations

import os

import torch

from src.core.errors import ParamsError
from src.core.params import PRECISIONS


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX tiles (Intel Sapphire Rapids and later), where bf16 matmuls run in
    hardware; elsewhere bf16 autocast on CPU is emulated and slower than fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


def best_device() -> torch.device:
    """CUDA, else Apple MPS, else the CPU: the order the Trainer itself picks them in."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_precision(precision: str) -> str:
    """`train.precision` -> fp32, bf16 or fp16 for this machine."""
    if precision not in PRECISIONS:
        raise ParamsError(f"params.yaml: train.precision is {precision!r}; use one of {', '.join(PRECISIONS)}.")
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() and not torch.backends.mps.is_available() else "fp32"
    if precision == "fp16" and not cuda:
        raise ParamsError("params.yaml: train.precision fp16 needs a CUDA GPU; use auto, bf16 or fp32 on this machine.")
    return precision


def trainer_precision_args(precision: str) -> dict:
    """TrainingArguments for a resolved precision. bf16 on CPU is autocast, which the Trainer
    allows only with `use_cpu` set."""
    cuda = torch.cuda.is_available()
    return {
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": precision == "bf16" and not cuda and not torch.backends.mps.is_available(),
    }


def use_available_cores() -> int:
    """Give torch one thread per core this process may run on.

    torch counts the machine's physical cores, which in a container or under `taskset` can exceed
    the cores actually granted; oversubscribed threads make CPU training slower, not faster.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(cores)
    return cores


def frozen_linear_weights_in(model: torch.nn.Module, dtype: torch.dtype) -> int:
    """Store the weights of the linear layers that training leaves alone in `dtype`; the count.

    Under bf16 autocast a linear layer multiplies in bf16 whatever its weight is stored in, so
    the products are the same; but autocast keeps the bf16 copy only of weights that are
    trained, and casts every frozen one again in every forward pass."""
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.requires_grad:
            module.weight.data = module.weight.data.to(dtype)
            if module.bias is not None and not module.bias.requires_grad:
                module.bias.data = module.bias.data.to(dtype)
            count += 1
    return count
