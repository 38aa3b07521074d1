"""Write a merged classifier as ONNX, and an int8 copy of it, for ONNX Runtime.

The graph comes from `torch.onnx.export`, with batch and sequence length left dynamic; the int8
copy from ONNX Runtime's own `quantize_dynamic`: weights int8 per output channel, activations
quantised per batch as they arrive, so no calibration data is needed. (optimum-onnx, which wraps
the same two calls, requires transformers < 4.58; this project runs 5.x.)

The int8 settings depend on the instruction set. Without VNNI, x86 int8 kernels multiply
unsigned activations by signed weights in 16-bit sums that can saturate, so weights use 7 bits
(`reduce_range`), as ONNX Runtime advises; with VNNI (and on ARM) the full 8 bits are safe.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import torch

log = logging.getLogger("export")

# int8 target -> quantize_dynamic's reduce_range (7-bit weights where 8-bit sums could saturate).
INT8_TARGETS = {"avx512_vnni": False, "avx512": True, "avx2": True, "arm64": False}
FP32_FILE, INT8_FILE = "model.onnx", "model_int8.onnx"
SAMPLE_TEXTS = ["a short text", "a somewhat longer text than the first one"]


def this_cpu_target() -> str:
    """The int8 target that fits the CPU this runs on."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def export_onnx(model: torch.nn.Module, tokenizer, folder: Path, pair: bool) -> list[str]:
    """Write `model` (a plain transformers classifier, in eval mode) to folder/model.onnx; returns
    its input names."""
    sample = tokenizer(SAMPLE_TEXTS, SAMPLE_TEXTS[::-1] if pair else None, padding=True, return_tensors="pt")
    names = list(sample.keys())

    class Logits(torch.nn.Module):
        # torch.onnx passes inputs by position; the model takes them by name.
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    dynamic = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    model.eval()
    with torch.inference_mode():
        torch.onnx.export(
            Logits(),
            tuple(sample[name] for name in names),
            str(folder / FP32_FILE),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            dynamo=False,
        )
    return names


def quantize_int8(folder: Path, target: str) -> None:
    """folder/model.onnx -> folder/model_int8.onnx for `target` (a key of INT8_TARGETS)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the quantiser logs a line per tensor on the root logger
    try:
        quantize_dynamic(
            folder / FP32_FILE,
            folder / INT8_FILE,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=INT8_TARGETS[target],
        )
    finally:
        root.setLevel(level)
