"""The checkpoint folders of src/model/checkpoints.py: which run a checkpoint belongs to, and
which checkpoint a rerun may resume from."""

import dataclasses

import pandas as pd

from src.core.params import Params
from src.model.checkpoints import Checkpoints, run_key

TRAIN = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
VALIDATION = pd.DataFrame({"text": ["c"], "label": [1]})


def test_the_key_changes_with_a_param_a_row_or_a_line_of_code(tmp_path):
    params = Params.load()
    code = tmp_path / "src"
    code.mkdir()
    (code / "a.py").write_text("x = 1\n")
    key = run_key(params, [TRAIN, VALIDATION], code)
    assert run_key(params, [TRAIN, VALIDATION], code) == key
    longer = dataclasses.replace(
        params, train=dataclasses.replace(params.train, max_epochs=params.train.max_epochs + 1)
    )
    assert run_key(longer, [TRAIN, VALIDATION], code) != key
    assert run_key(params, [TRAIN.assign(label=[1, 1]), VALIDATION], code) != key
    (code / "a.py").write_text("x = 2\n")
    assert run_key(params, [TRAIN, VALIDATION], code) != key


def test_a_rerun_resumes_the_last_complete_checkpoint_of_its_own_key_only(tmp_path):
    root = tmp_path / "checkpoints"
    for name, complete in (("checkpoint-6", True), ("checkpoint-12", True), ("checkpoint-18", False)):
        folder = root / "mine" / name
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (root / "stale" / "checkpoint-30").mkdir(parents=True)
    (root / "stale" / "checkpoint-30" / "trainer_state.json").write_text("{}")

    resume = Checkpoints("mine", root).prepare()
    assert resume == str(root / "mine" / "checkpoint-12")  # 18 was cut off by the crash
    assert not (root / "mine" / "checkpoint-18").exists()
    assert not (root / "stale").exists()  # another configuration's: never resumed, removed

    assert Checkpoints("changed", root).prepare() is None
    assert sorted(p.name for p in root.iterdir()) == ["changed"]
    Checkpoints("changed", root).remove()
    assert not root.exists()
