"""Bad input fed to the real stage entry points (`python -m src.<stage>`) in a throwaway project:
each exits 1 with a one-line message that names the problem and the fix, and changes no file.

docs/RELIABILITY.md lists these rows; the params rows are in test_params.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import assert_fails_cleanly, data_project, run_stage, snapshot

ROWS = {
    "train": [("happy day", "joy"), ("so sad", "sadness"), ("great", "joy"), ("awful", "sadness")] * 3,
    "validation": [("nice", "joy"), ("bad", "sadness")],
    "test": [("lovely", "joy"), ("gloomy", "sadness")],
}


def make_project(root: Path, **data_overrides) -> Path:
    files = {f"{split}.jsonl": pd.DataFrame(rows, columns=["text", "label"]) for split, rows in ROWS.items()}
    return data_project(root, files, **data_overrides)


def write_file(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(data)


# --------------------------------------------------------------------------- prepare


def test_missing_data_folder(tmp_path):
    root = make_project(tmp_path, dataset="./no_such_folder")
    assert_fails_cleanly(
        root, "prepare", "data.dataset is './no_such_folder', which looks like a folder, but it does not exist"
    )


def test_missing_train_file(tmp_path):
    """Validation and test may be carved from train (tests/test_dataset_layouts.py); train may not."""
    root = make_project(tmp_path)
    (root / "mydata" / "train.jsonl").unlink()
    assert_fails_cleanly(root, "prepare", "No train data in")


def test_missing_text_column(tmp_path):
    root = make_project(tmp_path, text_column="sentence")
    assert_fails_cleanly(root, "prepare", "has no column 'sentence' (columns: text, label). Set data.text_column")


def test_test_label_the_training_split_never_saw(tmp_path):
    root = make_project(tmp_path)
    write_file(root / "mydata" / "test.jsonl", b'{"text": "wow", "label": "surprise"}\n')
    assert_fails_cleanly(root, "prepare", "The test split has label(s) surprise that the training split never uses")


def test_sample_that_would_drop_a_class(tmp_path):
    root = make_project(tmp_path, sample_size={"train": 1, "validation": None, "test": None})
    assert_fails_cleanly(root, "prepare", "data.sample_size.train is 1, too few to keep every class")


def test_invalid_utf8(tmp_path):
    root = make_project(tmp_path)
    write_file(
        root / "mydata" / "validation.jsonl", b'{"text": "ok", "label": "joy"}\n{"text": "\xff", "label": "joy"}\n'
    )
    assert_fails_cleanly(
        root, "prepare", "validation.jsonl, line 2, is not valid UTF-8. Set data.read.encoding to the file's encoding"
    )


def test_csv_with_a_header_and_no_rows(tmp_path):
    root = make_project(tmp_path)
    (root / "mydata" / "test.jsonl").unlink()
    write_file(root / "mydata" / "test.csv", b"text,label\n")
    assert_fails_cleanly(root, "prepare", "test.csv has no rows; it needs at least one labelled text.")


def test_blank_texts_and_null_labels_are_dropped_and_counted(tmp_path):
    root = make_project(tmp_path)
    with open(root / "mydata" / "train.jsonl", "a") as f:
        f.write('{"text": "   ", "label": "joy"}\n{"text": "fine", "label": null}\n')
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((root / "metrics" / "data.json").read_text())
    assert summary["train"]["dropped"] == {"null_label": 1, "empty_text": 1, "unlabelled": 0}
    assert summary["train"]["rows"] == len(ROWS["train"])
    assert "dropped 1 rows with no label, 0 unlabelled (negative id) and 1 with an empty text" in result.stderr


# --------------------------------------------------------------------------- baseline and evaluate


def prepared(root: Path) -> Path:
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_unknown_model_with_no_network(tmp_path):
    root = prepared(make_project(tmp_path))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["model"]["name"] = "nobody/no-such-model"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    assert_fails_cleanly(
        root,
        "baseline",
        "The Hugging Face Hub is unreachable (HF_HUB_OFFLINE is set), and model.name 'nobody/no-such-model' is neither a local folder",
    )


def test_evaluate_before_train(tmp_path):
    root = prepared(make_project(tmp_path))
    assert_fails_cleanly(root, "evaluate", "No trained model in")


def test_predict_before_train(tmp_path):
    root = prepared(make_project(tmp_path))
    before = snapshot(root)
    result = subprocess.run(
        [sys.executable, "-m", "src.predict", "i feel wonderful today"], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: No trained model in ")
    assert "dvc repro train" in result.stderr and snapshot(root) == before


def test_corrupt_adapter(tmp_path, minilm_dir):
    from peft import LoraConfig, TaskType
    from transformers import AutoTokenizer

    root = prepared(make_project(tmp_path))
    result = root / "models" / "finetuned"
    LoraConfig(task_type=TaskType.SEQ_CLS, r=2, target_modules="all-linear").save_pretrained(result)
    (result / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(result)
    model = yaml.safe_load((root / "params.yaml").read_text())["model"]
    manifest = {"method": "lora", "model": model, "label_names": ["joy", "sadness"]}
    (result / "method.json").write_text(json.dumps(manifest))
    assert_fails_cleanly(root, "evaluate", "could not be loaded")


# --------------------------------------------------------------------------- params, at the stage


def edit_params(root: Path, section: str, key: str, value=None, delete: bool = False) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    if delete:
        del params[section][key]
    else:
        params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("stage", ["prepare", "train"])
def test_value_out_of_range_stops_every_stage(tmp_path, stage):
    root = make_project(tmp_path)
    edit_params(root, "lora", "dropout", 1.0)
    assert_fails_cleanly(root, stage, "params.yaml: lora.dropout is 1.0; use a number >= 0 and < 1.")


def test_missing_params_key(tmp_path):
    root = make_project(tmp_path)
    edit_params(root, "train", "seed", delete=True)
    assert_fails_cleanly(root, "baseline", "params.yaml: missing key(s) train.seed")


# --------------------------------------------------------------------------- cleaned up, not stopped


def test_sample_larger_than_the_split_keeps_it_whole_and_says_so(tmp_path):
    root = make_project(tmp_path, sample_size={"train": 500, "validation": None, "test": None})
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((root / "metrics" / "data.json").read_text())
    assert summary["train"]["rows"] == summary["train"]["available"] == len(ROWS["train"])
    assert "sample_size 500 exceeds the split, so all are kept" in result.stderr


def test_texts_shared_by_train_and_test_are_counted_and_kept(tmp_path):
    root = make_project(tmp_path)
    write_file(
        root / "mydata" / "test.jsonl", b'{"text": "Happy day", "label": "joy"}\n{"text": "new", "label": "sadness"}\n'
    )
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((root / "metrics" / "data.json").read_text())
    assert summary["leakage"]["test_texts_in_train"] == 1 and summary["test"]["rows"] == 2
    assert "texts also in train: 0 in validation, 1 in test" in result.stderr


# --------------------------------------------------------------------------- a checkpoint with missing weights


def test_checkpoint_missing_encoder_weights(tmp_path, tiny_bert_dir):
    from safetensors.torch import load_file, save_file

    root = prepared(make_project(tmp_path / "project"))
    broken = tmp_path / "broken-bert"
    shutil.copytree(tiny_bert_dir, broken)
    weights = load_file(broken / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layer.1." not in k}, broken / "model.safetensors", {"format": "pt"})
    edit_params(root, "model", "name", str(broken))
    assert_fails_cleanly(root, "baseline", "pretrained encoder weight(s)")
