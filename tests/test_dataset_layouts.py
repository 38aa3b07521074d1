"""The dataset layouts people actually have, through the real `python -m src.prepare`.

Each test writes a small dataset the way a public one is laid out (train/test only like IMDb,
train/dev like GLUE, one file, string labels with stray spaces, ids with gaps, text pairs,
tsv, semicolon csv, BOM, broken lines), runs the stage in a throwaway project, and checks
data/prepared/ and metrics/data.json, or that it fails with the message and leaves no file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import assert_fails_cleanly, run_stage
from tests.conftest import data_project as project

LABELS = ["joy", "sadness", "anger"]


def rows(count: int, labels=LABELS, offset: int = 0) -> pd.DataFrame:
    """`count` rows cycling through `labels`, each text unique."""
    return pd.DataFrame(
        {
            "text": [f"text number {offset + i} about {labels[i % len(labels)]}" for i in range(count)],
            "label": [labels[i % len(labels)] for i in range(count)],
        }
    )


def prepared(root: Path) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    return prepared_with_log(root)[:3]


def prepared_with_log(root: Path) -> tuple[dict[str, pd.DataFrame], list[str], dict, str]:
    """Run prepare once: (splits, label names, metrics/data.json, the log)."""
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-3000:]
    splits = {
        split: pd.read_json(root / "data" / "prepared" / f"{split}.jsonl", lines=True)
        for split in ("train", "validation", "test")
    }
    labels = json.loads((root / "data" / "prepared" / "labels.json").read_text())["label_names"]
    summary = json.loads((root / "metrics" / "data.json").read_text())
    return splits, labels, summary, result.stderr


def no_overlap(splits: dict[str, pd.DataFrame]) -> bool:
    texts = [set(frame["text"]) for frame in splits.values()]
    return not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


# --------------------------------------------------------------------------- missing splits


def test_train_and_test_only_carves_a_stratified_seeded_validation_split(tmp_path):
    """IMDb's layout on the Hub: train and test, no validation."""
    root = project(tmp_path, {"train.jsonl": rows(300), "test.jsonl": rows(30, offset=1000)})
    splits, labels, summary = prepared(root)
    assert len(splits["validation"]) == 30 and len(splits["train"]) == 270 and len(splits["test"]) == 30
    assert splits["validation"]["label"].value_counts().tolist() == [10, 10, 10]  # stratified
    assert no_overlap(splits)
    assert summary["validation"]["origin"] == "carved from train (10%)"
    assert summary["train"]["origin"] == "train.jsonl" and summary["test"]["origin"] == "test.jsonl"
    first = (root / "data" / "prepared" / "validation.jsonl").read_bytes()
    prepared(root)
    assert (root / "data" / "prepared" / "validation.jsonl").read_bytes() == first  # seeded: the same rows


def test_train_and_dev_only_carves_test_and_knows_dev_is_validation(tmp_path):
    """GLUE's layout: train and dev (its test has no labels)."""
    root = project(
        tmp_path, {"train.csv": rows(200), "dev.csv": rows(12, offset=500)}, carve={"validation": 0.1, "test": 0.15}
    )
    splits, _, summary = prepared(root)
    assert summary["validation"]["origin"] == "dev.csv" and len(splits["validation"]) == 12
    assert summary["test"]["origin"] == "carved from train (15%)" and len(splits["test"]) == 30
    assert no_overlap(splits)


def test_train_only_carves_validation_and_test(tmp_path):
    root = project(tmp_path, {"train.parquet": rows(100)})
    splits, _, summary = prepared(root)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [80, 10, 10]
    assert no_overlap(splits)
    assert summary["test"]["origin"].startswith("carved") and summary["validation"]["origin"].startswith("carved")
    report_note = summary["test"]["origin"]
    assert "carved from train" in report_note


def test_an_unlabelled_test_split_counts_as_missing(tmp_path):
    """GLUE's test files on the Hub have label -1 on every row."""
    test = rows(20, offset=900).assign(label=-1)
    train = rows(90).assign(label=lambda f: f["label"].map({name: i for i, name in enumerate(LABELS)}))
    root = project(tmp_path, {"train.jsonl": train, "validation.jsonl": train.iloc[:9], "test.jsonl": test})
    splits, _, summary = prepared(root)
    assert summary["test"]["origin"] == "carved from train (10%); test.jsonl has no labels"
    assert summary["test"]["dropped"]["unlabelled"] == 20
    assert len(splits["test"]) == 9


def test_a_test_file_without_a_label_column_counts_as_missing(tmp_path):
    """GLUE's local test.tsv: `index` and `sentence`, no label."""
    test = "index\ttext\n" + "".join(f"{i}\tunlabelled sentence {i}\n" for i in range(20))
    root = project(tmp_path, {"train.tsv": rows(100), "dev.tsv": rows(9, offset=300), "test.tsv": test})
    splits, _, summary = prepared(root)
    assert summary["test"]["origin"] == "carved from train (10%); test.tsv has no 'label' column"
    assert len(splits["test"]) == 10 and no_overlap(splits)


def test_data_splits_names_a_split_and_null_forces_carving(tmp_path):
    files = {"train.csv": rows(100), "heldout.csv": rows(10, offset=300), "test.csv": rows(10, offset=600)}
    root = project(tmp_path, files, splits={"validation": "heldout", "test": None})
    splits, _, summary = prepared(root)
    assert summary["validation"]["origin"] == "heldout.csv"
    assert summary["test"]["origin"] == "carved from train (10%)"
    assert not set(splits["test"]["text"]) & set(rows(10, offset=600)["text"])


def test_a_named_split_that_is_not_there_is_an_error(tmp_path):
    root = project(tmp_path, {"train.csv": rows(100)}, splits={"validation": "dev_matched"})
    assert_fails_cleanly(root, "prepare", "No validation file in")


# --------------------------------------------------------------------------- labels


def test_string_labels_are_stripped(tmp_path):
    train = rows(60)
    train.loc[::4, "label"] = " " + train.loc[::4, "label"] + " "
    root = project(tmp_path, {"train.csv": train, "test.csv": rows(9, offset=100)})
    _, labels, _ = prepared(root)
    assert labels == ["anger", "joy", "sadness"]


def test_labels_differing_only_in_case_are_named(tmp_path):
    train = rows(60)
    train.loc[3, "label"] = "Joy"
    root = project(tmp_path, {"train.csv": train, "test.csv": rows(9, offset=100)})
    assert_fails_cleanly(root, "prepare", "Labels that differ only in case or spacing: 'Joy' vs 'joy'")


def test_an_integer_label_only_test_uses_is_the_documented_error(tmp_path):
    ids = {"joy": 0, "sadness": 1, "anger": 2}
    train = rows(60).assign(label_text=lambda f: f["label"], label=lambda f: f["label"].map(ids))
    test = rows(9, offset=100).assign(label_text=lambda f: f["label"], label=lambda f: f["label"].map(ids))
    test.loc[0, ["label", "label_text"]] = [9, "disgust"]
    root = project(tmp_path, {"train.jsonl": train, "validation.jsonl": train.iloc[:6], "test.jsonl": test})
    assert_fails_cleanly(root, "prepare", "The test split has label(s) 9 that the training split never uses")


def test_negative_ids_are_dropped_and_counted_and_gaps_in_ids_are_closed(tmp_path):
    names = {1: "joy", 2: "sadness", 5: "anger"}
    train = pd.DataFrame({"text": [f"t {i}" for i in range(60)], "label": [[1, 2, 5][i % 3] for i in range(60)]})
    train["label_text"] = train["label"].map(names)
    train.loc[:4, "label"] = -1  # unlabelled rows, as in semi-supervised sets
    test = pd.DataFrame({"text": [f"u {i}" for i in range(9)], "label": [[1, 2, 5][i % 3] for i in range(9)]})
    test["label_text"] = test["label"].map(names)
    root = project(tmp_path, {"train.jsonl": train, "test.jsonl": test})
    splits, labels, summary = prepared(root)
    assert labels == ["joy", "sadness", "anger"]  # ids 1, 2, 5 -> 0, 1, 2, names kept
    assert sorted(splits["test"]["label"].unique()) == [0, 1, 2]
    assert summary["train"]["dropped"]["unlabelled"] == 5


def test_whole_float_labels_are_integers(tmp_path):
    text = "text,label\n" + "".join(f"row {i},{float(i % 2)}\n" for i in range(40))
    root = project(tmp_path, {"train.csv": text, "test.csv": "text,label\nyes,1.0\nno,0.0\n"})
    _, labels, _ = prepared(root)
    assert labels == ["0", "1"]


# --------------------------------------------------------------------------- formats


def test_a_broken_jsonl_line_is_named_by_number(tmp_path):
    good = "".join(json.dumps({"text": f"t {i}", "label": LABELS[i % 3]}) + "\n" for i in range(30))
    root = project(tmp_path, {"train.jsonl": good + '{"text": "oops", "label": \n' + good, "test.jsonl": good})
    assert_fails_cleanly(root, "prepare", "train.jsonl, line 31, is not valid JSON")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("train.tsv", "text\tlabel\n" + "".join(f'say "hi" {i}\t{LABELS[i % 3]}\n' for i in range(30))),
        ("train.csv", "text;label\n" + "".join(f"row, with comma {i};{LABELS[i % 3]}\n" for i in range(30))),
        ("train.csv", "\ufefftext,label\n" + "".join(f"row {i},{LABELS[i % 3]}\n" for i in range(30))),
    ],
    ids=["tsv-with-quotes", "semicolon-csv", "csv-with-bom"],
)
def test_delimiters_quotes_and_byte_order_marks(tmp_path, name, content):
    root = project(tmp_path, {name: content, "test.csv": rows(9, offset=100)})
    splits, labels, _ = prepared(root)
    assert labels == sorted(LABELS)
    assert len(splits["train"]) + len(splits["validation"]) == 30
    if name.endswith(".tsv"):
        assert any(text.startswith('say "hi"') for text in splits["train"]["text"])


# --------------------------------------------------------------------------- texts


def test_text_pairs_are_kept_as_pairs(tmp_path):
    pairs = pd.DataFrame(
        {
            "premise": [f"premise {i}" for i in range(60)],
            "hypothesis": [f"hypothesis {i}" for i in range(60)],
            "label": [["entailment", "neutral", "contradiction"][i % 3] for i in range(60)],
        }
    )
    root = project(tmp_path, {"train.jsonl": pairs}, text_column=["premise", "hypothesis"])
    splits, _, summary = prepared(root)
    assert list(splits["train"].columns) == ["text", "text_pair", "label"]
    assert splits["train"]["text"].str.startswith("premise").all()
    assert splits["train"]["text_pair"].str.startswith("hypothesis").all()
    assert summary["train"]["rows"] == 48


def test_texts_longer_than_max_length_are_counted(tmp_path):
    long = rows(30)
    long.loc[:9, "text"] = "a much longer text " * 10  # about 40 tokens each
    root = project(tmp_path, {"train.csv": long, "test.csv": rows(9, offset=100)})
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["model"]["max_length"] = 16
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((root / "metrics" / "data.json").read_text())
    assert summary["max_length"] == 16
    assert summary["train"]["truncated"] + summary["validation"]["truncated"] == 10
    assert summary["test"]["truncated"] == 0
    assert "longer than model.max_length (16 tokens)" in result.stderr
