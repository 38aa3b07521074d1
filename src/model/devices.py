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
        # On CPUs, bf16 autocast does not pay enough: on an AMX Xeon, after speed_up_cpu_bf16,
        # it trained 1.3x faster than fp32 (docs/PERFORMANCE.md), short of the 1.5x that would be
        # worth a different number format by default. train.precision: bf16 asks for it.
        return "fp32"
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


def speed_up_cpu_bf16(model: torch.nn.Module) -> dict:
    """Take out the three largest costs of bf16 autocast training on a CPU that multiplies bf16
    (measured on an AMX Xeon, docs/PERFORMANCE.md); the arithmetic of the products is unchanged.

    - attention runs as plain matmuls and softmax (`eager`): the fused SDPA kernel's bf16
      backward took 10x its fp32 time there, a third of the whole step;
    - the frozen linear weights are stored in bf16: autocast casts again, in every forward pass,
      every weight that is not trained (it keeps its bf16 copy only of trained ones);
    - peft's adapters take their input as it comes: they cast it to their fp32 weights' dtype,
      and autocast then cast it back to bf16 for the product.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation("eager")
    stored = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.requires_grad:
            module.weight.data = module.weight.data.to(torch.bfloat16)
            if module.bias is not None and not module.bias.requires_grad:
                module.bias.data = module.bias.data.to(torch.bfloat16)
            stored += 1
    adapters = 0
    for module in model.modules():
        if hasattr(module, "cast_input_dtype_enabled"):
            module.cast_input_dtype_enabled = False
            adapters += 1
    return {"frozen_linear_in_bf16": stored, "adapters_without_input_cast": adapters}
