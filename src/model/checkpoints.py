"""Per-epoch checkpoints of a training run, so a `dvc repro` after a crash resumes instead of
starting over.

They live in checkpoints/<key>/, outside the train stage's outputs (DVC deletes those before it
reruns a stage). The key is a hash of everything that decides what training computes: the
train stage's params, the prepared train and validation rows, and the code under src/. Another
key never resumes: a changed param, row or line of code starts afresh, and the stale folders are
removed then. A finished stage removes its own folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from src.core.params import Params
from src.core.paths import CHECKPOINTS_DIR, PROJECT_ROOT

log = logging.getLogger(__name__)

KEY_LENGTH = 16
STATE_FILE = "trainer_state.json"  # the Trainer's TRAINER_STATE_NAME


def run_key(params: Params, frames: list[pd.DataFrame], code_root: Path = PROJECT_ROOT / "src") -> str:
    """A hash of the train stage's params, the rows of `frames` (train, validation) and every .py
    under `code_root`."""
    digest = hashlib.sha256()
    settings = {
        "model": asdict(params.model),
        "method": params.peft.method,
        "section": asdict(params.method),
        "train": asdict(params.train),
        "eval_batch_size": params.eval.batch_size,
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for frame in frames:
        if frame["label"].dtype == object:  # multi-label rows: lists of ids, which pandas cannot hash
            frame = frame.assign(label=frame["label"].map(json.dumps))
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    for path in sorted(code_root.rglob("*.py")):
        digest.update(path.relative_to(code_root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:KEY_LENGTH]


class Checkpoints:
    """The checkpoint folder of one run (keyed by `run_key`) under `root`."""

    def __init__(self, key: str, root: Path = CHECKPOINTS_DIR):
        self.root, self.folder = root, root / key

    def prepare(self) -> str | None:
        """Remove other runs' folders; return the last complete checkpoint of this one, or None."""
        if self.root.is_dir():
            for stale in self.root.iterdir():
                if stale != self.folder:
                    log.info("removing checkpoints of another configuration: %s", stale)
                    shutil.rmtree(stale, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        # The Trainer writes checkpoint-N/ in place and trainer_state.json last: a folder without
        # it was cut off by the crash and would resume from half-written weights.
        complete = []
        for checkpoint in self.folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
            if (checkpoint / STATE_FILE).is_file():
                complete.append(checkpoint)
            else:
                log.info("removing an incomplete checkpoint: %s", checkpoint)
                shutil.rmtree(checkpoint, ignore_errors=True)
        if not complete:
            return None
        return str(max(complete, key=lambda checkpoint: int(checkpoint.name.rsplit("-", 1)[1])))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()
