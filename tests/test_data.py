import dataclasses
import json

import pandas as pd
import pytest

from src.core.errors import DataError
from src.core.params import Params
from src.data.labels import encode_labels
from src.data.prepared import read_label_names, read_prepared, write_prepared
from src.data.sources import load_labelled_splits, resolve_dataset
from src.data.splits import stratified_sample, summarize
from tests.conftest import EMOTION_LABELS, SHARED_DATA

ROWS = {
    "train": [("happy day", "joy"), ("so sad", "sadness"), ("great", "joy"), ("awful", "sadness")],
    "validation": [("nice", "joy"), ("bad", "sadness")],
    "test": [("lovely", "joy"), ("gloomy", "sadness")],
}


def load(dataset: str, mirrors=(), text_column="text", label_column="label", **data):
    """`load_labelled_splits` with the repository's data params, these fields changed."""
    params = dataclasses.replace(
        Params.load().data,
        dataset=dataset,
        mirrors=list(mirrors),
        text_column=text_column,
        label_column=label_column,
        **data,
    )
    return load_labelled_splits(params)


def write_folder(folder, fmt, labels="strings"):
    folder.mkdir()
    ids = {"sadness": 0, "joy": 1}
    for split, rows in ROWS.items():
        frame = pd.DataFrame(rows, columns=["text", "label"])
        if labels == "ints":
            frame["label_text"] = frame["label"]
            frame["label"] = frame["label"].map(ids)
        path = folder / f"{split}.{fmt}"
        if fmt == "jsonl":
            frame.to_json(path, orient="records", lines=True)
        elif fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path)
    return folder


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("labels", ["strings", "ints"])
def test_local_folder_in_every_format_and_label_style(tmp_path, fmt, labels):
    folder = write_folder(tmp_path / "mydata", fmt, labels)
    dataset = load(str(folder), [], "text", "label")
    # Integer labels keep their ids; string labels are numbered in sorted order. Both give the
    # same mapping here because sadness=0, joy=1 is not sorted: check each explicitly.
    expected_names = ["sadness", "joy"] if labels == "ints" else ["joy", "sadness"]
    assert dataset.label_names == expected_names
    train = dataset.splits["train"]
    assert list(train.columns) == ["text", "label"]
    assert [expected_names[i] for i in train["label"]] == [label for _, label in ROWS["train"]]
    assert dataset.source == str(folder)


def test_relative_folder_resolves_against_the_project_root(tmp_path):
    folder = write_folder(tmp_path / "rel", "jsonl")
    assert resolve_dataset("rel", [], roots=[tmp_path]) == folder.resolve()


def test_queued_experiment_finds_relative_folders_beside_the_original_repo(tmp_path, monkeypatch):
    # `dvc exp run --queue` runs in a copy under .dvc/tmp/exps/ and sets DVC_ROOT to the repo.
    write_folder(tmp_path / "emotion", "jsonl")
    (tmp_path / "repo").mkdir()
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    assert resolve_dataset("dair-ai/emotion", ["..", "../nowhere"]) == (tmp_path / "emotion").resolve()
    assert resolve_dataset("../emotion", []) == (tmp_path / "emotion").resolve()


def test_hub_id_found_in_a_mirror_by_its_short_name():
    # The default: dair-ai/emotion is found offline as ../shared/data/emotion.
    assert resolve_dataset("dair-ai/emotion", [str(SHARED_DATA)]) == (SHARED_DATA / "emotion").resolve()


def test_hub_id_with_no_mirror_stays_a_hub_id(tmp_path):
    assert resolve_dataset("someone/unmirrored", [str(tmp_path)]) == "someone/unmirrored"


def test_missing_local_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="looks like a folder.*does not exist"):
        resolve_dataset(str(tmp_path / "nope"), [])


def test_unreachable_hub_dataset_names_the_mirrors_and_the_fix(tmp_path):
    with pytest.raises(
        DataError, match=r"Hub is unreachable .*data.mirrors \(.*\) holds a copy of 'someone/unmirrored'"
    ):
        load("someone/unmirrored", [str(tmp_path)], "text", "label")


def test_missing_train_file_is_an_error(tmp_path):
    folder = write_folder(tmp_path / "d", "jsonl")
    (folder / "train.jsonl").unlink()
    with pytest.raises(
        DataError,
        match=r"No train data in .*: looked for train.<jsonl\|json\|csv\|tsv\|parquet\|txt>.*It holds: test.jsonl, validation.jsonl",
    ):
        load(str(folder), [], "text", "label")


def test_missing_column_names_the_param_to_set(tmp_path):
    folder = write_folder(tmp_path / "d", "jsonl")
    with pytest.raises(DataError, match=r"no column 'sentence'.*data.text_column"):
        load(str(folder), [], "sentence", "label")


def test_label_unseen_in_training_is_an_error():
    raw = {
        "train": pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}),
        "validation": pd.DataFrame({"text": ["c"], "label": ["x"]}),
        "test": pd.DataFrame({"text": ["d"], "label": ["z"]}),
    }
    with pytest.raises(DataError, match="test split has label.*z"):
        encode_labels(raw, ["text"], "label")


def test_shared_emotion_dataset(emotion_dir):
    dataset = load("dair-ai/emotion", [str(SHARED_DATA)], "text", "label")
    assert dataset.label_names == EMOTION_LABELS
    assert {split: len(frame) for split, frame in dataset.splits.items()} == {
        "train": 16000,
        "validation": 2000,
        "test": 2000,
    }


def test_stratified_sample_keeps_proportions_and_is_seeded():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(1000)], "label": [0] * 700 + [1] * 200 + [2] * 100})
    sample = stratified_sample(frame, 100, seed=1)
    assert len(sample) == 100
    assert sample["label"].value_counts().to_dict() == {0: 70, 1: 20, 2: 10}
    pd.testing.assert_frame_equal(sample, stratified_sample(frame, 100, seed=1))
    assert not sample.equals(stratified_sample(frame, 100, seed=2))


@pytest.mark.parametrize("size", [None, 1000, 5000])
def test_sample_of_none_or_more_than_the_split_keeps_every_row(size):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(1000)], "label": [0, 1] * 500})
    assert len(stratified_sample(frame, size, seed=0)) == 1000


def test_prepared_round_trip_and_summary(tmp_path):
    splits = {
        split: pd.DataFrame({"text": [t for t, _ in rows], "label": [int(label == "joy") for _, label in rows]})
        for split, rows in ROWS.items()
    }
    write_prepared(splits, ["sadness", "joy"], "somewhere", out_dir=tmp_path / "prepared")
    pd.testing.assert_frame_equal(read_prepared("train", tmp_path / "prepared"), splits["train"])
    assert read_label_names(tmp_path / "prepared") == ["sadness", "joy"]
    assert json.loads((tmp_path / "prepared" / "labels.json").read_text())["source"] == "somewhere"
    summary = summarize(
        splits, ["sadness", "joy"], available={"train": 10}, dropped={"train": {"null_label": 1, "empty_text": 5}}
    )
    assert summary["train"] == {
        "origin": "train",
        "rows": 4,
        "truncated": 0,
        "available": 10,
        "dropped": {"null_label": 1, "empty_text": 5},
        "classes": {"sadness": 2, "joy": 2},
    }
    assert summary["leakage"] == {"validation_texts_in_train": 0, "test_texts_in_train": 0}


def test_blank_texts_and_missing_labels_are_dropped_and_counted(tmp_path):
    folder = write_folder(tmp_path / "d", "csv", labels="ints")
    with open(folder / "train.csv", "a") as f:
        f.write('"   ",1,joy\n,0,sadness\nno label here,,\n')
    dataset = load(str(folder), [], "text", "label")
    assert dataset.dropped["train"] == {"null_label": 1, "empty_text": 2, "unlabelled": 0}
    assert dataset.dropped["test"] == {"null_label": 0, "empty_text": 0, "unlabelled": 0}
    assert len(dataset.splits["train"]) == 4 and dataset.splits["train"]["label"].dtype.kind == "i"


def test_split_with_nothing_usable_is_an_error(tmp_path):
    folder = write_folder(tmp_path / "d", "jsonl")
    (folder / "validation.jsonl").write_text('{"text": "", "label": "joy"}\n{"text": "x", "label": null}\n')
    with pytest.raises(DataError, match="validation split .* has no usable rows"):
        load(str(folder), [], "text", "label")


def test_csv_with_a_header_and_no_rows_is_an_error(tmp_path):
    folder = write_folder(tmp_path / "d", "csv")
    (folder / "test.csv").write_text("text,label\n")
    with pytest.raises(DataError, match=r"test.csv has no rows"):
        load(str(folder), [], "text", "label")


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    folder = write_folder(tmp_path / "d", "jsonl")
    (folder / "train.jsonl").write_bytes(b'{"text": "fine", "label": "joy"}\n{"text": "caf\xe9", "label": "joy"}\n')
    with pytest.raises(DataError, match=r"train.jsonl, line 2, is not valid UTF-8"):
        load(str(folder), [], "text", "label")


def test_sample_too_small_to_keep_every_class_is_an_error():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": [0] * 97 + [1] * 3})
    with pytest.raises(
        DataError, match=r"data.sample_size.train is 10, too few .* rarest class has 3 of 100 rows\). Use at least 34"
    ):
        stratified_sample(frame, 10, seed=0)
    single = pd.DataFrame({"text": [f"t{i}" for i in range(50)], "label": [0] * 49 + [1]})
    with pytest.raises(DataError, match="data.sample_size.validation is 20"):
        stratified_sample(single, 20, seed=0, split="validation")


def test_texts_shared_between_train_and_test_are_counted():
    splits = {
        "train": pd.DataFrame({"text": ["I am happy", "so sad"], "label": [1, 0]}),
        "validation": pd.DataFrame({"text": ["new"], "label": [0]}),
        "test": pd.DataFrame({"text": ["i am happy ", "other", "SO SAD"], "label": [1, 0, 0]}),
    }
    assert summarize(splits, ["sadness", "joy"])["leakage"] == {
        "validation_texts_in_train": 0,
        "test_texts_in_train": 2,
    }


def test_reading_before_prepare_says_to_run_prepare(tmp_path):
    with pytest.raises(DataError, match="run the prepare stage"):
        read_prepared("test", tmp_path)
