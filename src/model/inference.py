"""Running a classifier over many texts on CPU or GPU, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from src.model.devices import best_device, use_available_cores
from src.scoring.tasks import TASKS

# Padded token ids of one batch (input_ids, attention_mask, ...) -> its logits.
Forward = Callable[[dict], np.ndarray]


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
    of `texts`, on `device` (default: the best one here) with one CPU thread per granted core."""
    use_available_cores()
    device = device or best_device()
    model.to(device).eval()

    def forward(batch: dict) -> np.ndarray:
        with torch.inference_mode():
            return model(**batch.to(device)).logits.float().cpu().numpy()

    encoded = encode(tokenizer, texts, pairs, max_length)
    return batched_logits(encoded, tokenizer, forward, batch_size, model.config.num_labels, "pt", desc)


def encode(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int) -> dict[str, list]:
    """Token ids per text (unpadded), cut at `max_length` as in training."""
    return dict(
        tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=True, max_length=max_length)
    )


def batched_logits(
    encoded: dict[str, list],
    tokenizer,
    forward: Forward,
    batch_size: int,
    num_labels: int,
    tensors: str = "pt",
    desc: str | None = "predict",
    max_tokens: int | None = None,
) -> np.ndarray:
    """Logits of every encoded text, in input order, by `forward` over batches of `batch_size`
    (and, with `max_tokens`, of at most that many tokens: texts x the longest, as padded).

    Texts are batched in order of token length so each batch pads to little more than its own
    longest text; the rows are put back in input order before returning. `tensors` is what
    `forward` takes: "pt" (torch) or "np" (ONNX Runtime)."""
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    logits = np.empty((len(lengths), num_labels), dtype=np.float32)
    for rows in tqdm(
        passes(lengths[order], order, batch_size, max_tokens), desc=desc, unit="batch", disable=desc is None
    ):
        batch = tokenizer.pad(
            {key: [values[i] for i in rows] for key, values in encoded.items()}, return_tensors=tensors
        )
        logits[rows] = forward(batch)
    return logits


def passes(sorted_lengths: np.ndarray, order: np.ndarray, batch_size: int, max_tokens: int | None) -> list[np.ndarray]:
    """`order` (rows sorted by length) cut into forward passes of at most `batch_size` rows and
    `max_tokens` padded tokens; a text longer than the budget is a pass of its own."""
    cuts, start = [], 0
    for end in range(1, len(order) + 1):
        if end < len(order):
            rows = end - start
            full = rows == batch_size or (max_tokens is not None and (rows + 1) * sorted_lengths[end] > max_tokens)
            if not full:
                continue
        cuts.append(order[start:end])
        start = end
    return cuts
