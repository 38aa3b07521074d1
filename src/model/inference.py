"""Running a classifier over many texts on CPU or GPU, with a progress bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from src.model.devices import best_device, use_available_cores
from src.scoring.tasks import TASKS


def predict_proba(*args, temperature: float = 1.0, task: str = "single_label", **kwargs) -> np.ndarray:
    """Probabilities, one row per text, as `task` computes them from logits / temperature (a
    softmax over classes, or a sigmoid per label); arguments as `predict_logits`. A fine-tuned
    result's temperature and task are in its method.json."""
    logits = predict_logits(*args, **kwargs)
    if TASKS[task].thresholded:  # a sigmoid per label
        return TASKS[task].probabilities(logits, temperature)
    return torch.softmax(torch.from_numpy(logits) / temperature, dim=-1).numpy()


def predict_logits(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    batch_size: int,
    max_length: int,
    desc: str = "predict",
    device: torch.device | None = None,
    pairs: Sequence[str] | None = None,
) -> np.ndarray:
    """Class logits, one row per text (or pair, with `pairs` the second texts), in the order
    of `texts`, on `device` (default: the best one here) with one CPU thread per granted core.

    Texts are batched in order of token length so each batch pads to little more than its own
    longest text; the rows are put back in input order before returning.
    """
    encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=True, max_length=max_length)
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    use_available_cores()
    device = device or best_device()
    model.to(device).eval()
    logits = np.empty((len(texts), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad(
                {key: [values[i] for i in rows] for key, values in encoded.items()},
                return_tensors="pt",
            ).to(device)
            logits[rows] = model(**batch).logits.float().cpu().numpy()
    return logits
