"""The ways to run a trained classifier, behind one interface: `load_backend(name)`.

- `pytorch`: the trained result in models/finetuned (any method), in eager PyTorch.
- `onnx`, `onnx-int8`: the ONNX Runtime models `python -m src.export --onnx` writes to
  models/onnx (model.onnx, model_int8.onnx), with the temperature folded into the head.

Each gives the label names, the task and its thresholds, and turns texts into calibrated
probabilities through the same length-sorted batching (src/model/inference.py), so
`src.predict --backend`, `src.serve`, the export's check and bench/serving.py print and score
the same things whichever backend runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.core.errors import ModelError
from src.core.files import read_json
from src.core.paths import FINETUNED_DIR, ONNX_DIR
from src.model.inference import Forward, batched_logits, encode
from src.scoring.tasks import TASKS

# The backend name -> the model file in the ONNX folder (None: the PyTorch result).
BACKENDS = {"pytorch": None, "onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
# Written by the ONNX export beside its models: what the folder's models read and how they scored.
ONNX_MANIFEST = "export.json"


@dataclass
class Backend:
    name: str
    label_names: list[str]
    task: str
    thresholds: list[float] | None
    temperature: float  # 1.0 where it is folded into the model
    max_length: int
    text_pair: bool
    tokenizer: object
    forward: Forward
    tensors: str  # what `forward` takes: "pt" or "np"

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, list]:
        return encode(self.tokenizer, texts, pairs, self.max_length)

    def logits(
        self, encoded: dict[str, list], batch_size: int, desc: str | None = None, max_tokens: int | None = None
    ) -> np.ndarray:
        return batched_logits(
            encoded, self.tokenizer, self.forward, batch_size, len(self.label_names), self.tensors, desc, max_tokens
        )

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return TASKS[self.task].probabilities(logits, self.temperature)

    def predict(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, batch_size: int = 64, desc: str | None = None
    ) -> np.ndarray:
        """Calibrated probabilities, one row per text, in input order."""
        return self.probabilities(self.logits(self.encode(texts, pairs), batch_size, desc))

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        return TASKS[self.task].decide(probabilities, self.thresholds)


def load_backend(name: str, model_dir: Path | None = None, threads: int | None = None) -> Backend:
    """The backend `name` (a key of BACKENDS), loaded from `model_dir` (default: models/finetuned
    for pytorch, models/onnx for the others), running on `threads` CPU threads (default: one per
    core this process may use)."""
    if name not in BACKENDS:
        raise ModelError(f"Unknown backend {name!r}; use one of {', '.join(BACKENDS)}.")
    threads = threads or len(os.sched_getaffinity(0))
    if BACKENDS[name] is None:
        return _pytorch(model_dir or FINETUNED_DIR, threads)
    return _onnx(name, model_dir or ONNX_DIR, threads)


def _pytorch(model_dir: Path, threads: int) -> Backend:
    import torch

    from src.model.devices import best_device
    from src.model.finetuned import load_result, task_of, thresholds_of

    model, tokenizer, manifest = load_result(model_dir)
    torch.set_num_threads(threads)
    device = best_device()
    model.to(device).eval()

    def forward(batch) -> np.ndarray:
        with torch.inference_mode():
            return model(**batch.to(device)).logits.float().cpu().numpy()

    return Backend(
        name="pytorch",
        label_names=manifest["label_names"],
        task=task_of(manifest),
        thresholds=thresholds_of(manifest),
        temperature=manifest.get("temperature", 1.0),
        max_length=manifest["model"]["max_length"],
        text_pair=manifest.get("text_pair", False),
        tokenizer=tokenizer,
        forward=forward,
        tensors="pt",
    )


def _onnx(name: str, folder: Path, threads: int) -> Backend:
    import onnxruntime
    from transformers import AutoTokenizer

    path = folder / BACKENDS[name]
    if not (folder / ONNX_MANIFEST).is_file() or not path.is_file():
        missing = path if (folder / ONNX_MANIFEST).is_file() else folder / ONNX_MANIFEST
        hint = " (export.onnx.int8 was off)" if name == "onnx-int8" and (folder / ONNX_MANIFEST).is_file() else ""
        raise ModelError(
            f"No {name} model: {missing} does not exist{hint}. Write it with `python -m src.export --onnx`."
        )
    manifest = read_json(folder / ONNX_MANIFEST)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = [node.name for node in session.get_inputs()]

    def forward(batch) -> np.ndarray:
        return session.run(["logits"], {key: batch[key].astype(np.int64) for key in wanted})[0]

    return Backend(
        name=name,
        label_names=manifest["label_names"],
        task=manifest["task"],
        thresholds=manifest.get("thresholds"),
        temperature=1.0,
        max_length=manifest["max_length"],
        text_pair=manifest["text_pair"],
        tokenizer=AutoTokenizer.from_pretrained(folder),
        forward=forward,
        tensors="np",
    )


def headline_scores(backend: Backend, test, probabilities: np.ndarray) -> dict:
    """The task's two headline scores of `probabilities` on the prepared rows `test`."""
    task = TASKS[backend.task]
    metrics = task.evaluate(test, probabilities, backend.label_names, 10, backend.thresholds).metrics
    return {key: float(metrics[key]) for key in task.headline}


def agreement(backend: Backend, got: np.ndarray, expected: np.ndarray) -> dict:
    """How far a variant's predictions are from PyTorch's on the same rows."""
    decided, reference = backend.decide(got), backend.decide(expected)
    changed = decided != reference
    changed = changed.any(axis=1) if changed.ndim == 2 else changed
    return {
        "changed_share": float(changed.mean()),
        "max_probability_difference": float(np.abs(got - expected).max()),
    }
