"""The server's batcher, without a model: requests that arrive together share a batch up to its
row budget, run in length-sorted passes within the token budget, each gets its own rows back, and
a failing batch fails only its requests.
The real server, over HTTP with the trained model, is tested in test_pipeline.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from src.model.backends import Backend
from src.serving.batching import Batcher


def counting_backend(calls: list) -> Backend:
    """A backend whose logits are (first token id / 10, 0), so a row can be traced back."""

    def forward(batch):
        calls.append(batch["input_ids"].shape)
        if (batch["input_ids"] == 666).any():
            raise RuntimeError("boom")
        first = batch["input_ids"][:, 0].astype(np.float32) / 10
        return np.stack([first, np.zeros_like(first)], axis=1)

    class Tokenizer:
        # A "text" is its token ids written out: "10 1 1 1".
        def __call__(self, texts, pairs=None, truncation=True, max_length=None):
            return {"input_ids": [[int(token) for token in text.split()] for text in texts]}

        def pad(self, features, return_tensors):
            width = max(len(ids) for ids in features["input_ids"])
            return {k: np.array([ids + [0] * (width - len(ids)) for ids in v]) for k, v in features.items()}

    return Backend("fake", ["a", "b"], "single_label", None, 1.0, 32, False, Tokenizer(), forward, "np")


def rows(first_ids: list[int], length: int = 4) -> list[str]:
    return [" ".join(map(str, [i] + [1] * (length - 1))) for i in first_ids]


def run(coroutine):
    return asyncio.run(coroutine)


def test_requests_arriving_together_share_a_batch_and_get_their_own_rows():
    calls = []

    async def main():
        batcher = Batcher(counting_backend(calls), max_texts=8, max_wait_s=0.05, pass_tokens=1000)
        batcher.start()
        results = await asyncio.gather(*(batcher.probabilities(rows([10 * i, 10 * i + 1])) for i in range(3)))
        await batcher.stop()
        return results, batcher

    results, batcher = run(main())
    assert batcher.batches == 1 and batcher.texts == 6 and calls == [(6, 4)]
    for i, got in enumerate(results):
        first = np.array([10 * i, 10 * i + 1]) / 10
        assert got[:, 0] == pytest.approx(1 / (1 + np.exp(-first)), abs=1e-6)


@pytest.mark.parametrize(("max_texts", "batches"), [(4, 2), (6, 2), (8, 1)])
def test_a_batch_stops_at_its_row_budget(max_texts, batches):
    calls = []

    async def main():
        batcher = Batcher(counting_backend(calls), max_texts=max_texts, max_wait_s=0.05, pass_tokens=1000)
        batcher.start()
        await asyncio.gather(*(batcher.probabilities(rows([i, i])) for i in range(4)))
        await batcher.stop()
        return batcher

    batcher = run(main())
    assert batcher.batches == batches and batcher.texts == 8
    assert all(shape[0] <= max_texts for shape in calls)


def test_a_batch_runs_sorted_by_length_in_passes_within_the_token_budget():
    calls = []

    async def main():
        batcher = Batcher(counting_backend(calls), max_texts=64, max_wait_s=0.05, pass_tokens=12)
        batcher.start()
        mixed = [" ".join([str(i)] * n) for i, n in ((1, 6), (2, 2), (3, 2), (4, 6), (5, 2), (6, 3))]
        got = await batcher.probabilities(mixed)
        await batcher.stop()
        return got

    got = run(main())
    # Short texts pass together (4 x 3 tokens within 12), the two long ones (2 x 6) apart from them.
    assert calls == [(4, 3), (2, 6)]
    first = np.array([1, 2, 3, 4, 5, 6]) / 10
    assert got[:, 0] == pytest.approx(1 / (1 + np.exp(-first)), abs=1e-6)  # back in request order


def test_a_failing_batch_fails_its_requests_and_the_next_batch_runs():
    calls = []

    async def main():
        batcher = Batcher(counting_backend(calls), max_texts=8, max_wait_s=0.0, pass_tokens=1000)
        batcher.start()
        with pytest.raises(RuntimeError, match="boom"):
            await batcher.probabilities(rows([666]))
        after = await batcher.probabilities(rows([5]))
        await batcher.stop()
        return after

    assert run(main()).shape == (1, 2)
