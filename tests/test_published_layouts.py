"""Datasets as their authors publish them, through the real `python -m src.prepare`.

Each test writes small files the way a public dataset lays them out (GoEmotions' headerless tsv,
split files named otherwise, aclImdb's folder per class, TweetEval's line files, Financial
PhraseBank's `sentence@label` latin-1 file, a Hub download's parquet shards) and runs the stage
with at most the params a user would write for it. Plus the rules that came with them: carving
keeps copies of a text on one side, a rare class is named, a single class is an error.
"""

from __future__ import annotations

import pandas as pd

from tests.conftest import assert_fails_cleanly, run_stage
from tests.conftest import data_project as project
from tests.test_dataset_layouts import LABELS, no_overlap, rows
from tests.test_dataset_layouts import prepared_with_log as prepared


def lines(frame: pd.DataFrame, *columns: str, sep: str = "\t") -> str:
    """`frame`'s columns joined by `sep`, one row a line, no header."""
    return "".join(sep.join(str(row[c]) for c in columns) + "\n" for _, row in frame.iterrows())


def with_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=frame["label"].map({name: i for i, name in enumerate(LABELS)}), id=frame.index)


# --------------------------------------------------------------------------- headerless tables


def test_a_headerless_tsv_is_read_as_data_and_its_columns_found(tmp_path):
    """GoEmotions' train.tsv: `text<TAB>label id<TAB>comment id`, no header line."""
    files = {
        "train.tsv": lines(with_ids(rows(90)), "text", "label", "id"),
        "dev.tsv": lines(with_ids(rows(12, offset=500)), "text", "label", "id"),
        "test.tsv": lines(with_ids(rows(15, offset=900)), "text", "label", "id"),
    }
    root = project(tmp_path, files)
    splits, labels, summary, log = prepared(root)
    assert [summary[split]["rows"] for split in ("train", "validation", "test")] == [90, 12, 15]  # no row lost
    assert labels == ["0", "1", "2"]
    assert splits["train"]["text"][0] == "text number 0 about joy" and splits["train"]["label"][0] == 0
    assert "train.tsv has no header line (its first line is a data row): reading column 1 as 'text'" in log


def test_columns_name_a_headerless_file_where_the_roles_are_not_plain(tmp_path):
    """Two short columns: which is the label cannot be told, so the error names data.read.columns."""
    text = "".join(f"w{i}\t{i % 2}\t{i % 2}\n" for i in range(40))
    root = project(tmp_path, {"train.tsv": text})
    assert_fails_cleanly(root, "prepare", "Name its columns with data.read.columns")
    root = project(tmp_path / "named", {"train.tsv": text}, read={"columns": ["text", "label", "copy"]})
    splits, labels, _, _ = prepared(root)
    assert labels == ["0", "1"] and sum(len(frame) for frame in splits.values()) == 40


def test_split_files_named_otherwise_are_found_by_the_split_word(tmp_path):
    """R8 / `<name>.training.txt`: `label<TAB>text` lines in .txt files with other names."""
    files = {
        "news.training.txt": lines(rows(90), "label", "text"),
        "news.test.txt": lines(rows(15, offset=500), "label", "text"),
        "README.md": "Reuters, 3 topics\n",
    }
    splits, labels, summary, _ = prepared(project(tmp_path, files))
    assert summary["train"]["origin"] == "news.training.txt" and summary["test"]["origin"] == "news.test.txt"
    assert summary["validation"]["origin"] == "carved from train (10%)"
    assert labels == sorted(LABELS) and len(splits["test"]) == 15
    assert splits["test"]["text"][0] == "text number 500 about joy"


def test_data_splits_names_files_and_two_candidates_are_an_error(tmp_path):
    files = {
        "r8-train-all-terms.txt": lines(rows(60), "label", "text"),
        "r8-train-stemmed.txt": lines(rows(60), "label", "text"),
    }
    assert_fails_cleanly(project(tmp_path, files), "prepare", "name the right one in data.splits.train")
    root = project(tmp_path / "named", files, splits={"train": "r8-train-all-terms.txt"})
    _, _, summary, _ = prepared(root)
    assert summary["train"]["origin"] == "r8-train-all-terms.txt"


def test_a_latin1_file_with_another_delimiter(tmp_path):
    """Financial PhraseBank: one file of `sentence@label` lines in latin-1, no header."""
    sentences = [f"Net sales of caf\xe9 {i} rose by {i} % , the company said .@positive" for i in range(30)]
    sentences += [f"Operating profit fell to EUR {i} mn from EUR {i + 1} mn .@negative" for i in range(30)]
    sentences += [f"The company is based in Helsinki , Finland ({i}) .@neutral" for i in range(30)]
    data = ("\r\n".join(sentences) + "\r\n").encode("latin-1")
    root = project(tmp_path, {"Sentences_AllAgree.txt": data}, splits={"train": "Sentences_AllAgree.txt"})
    assert_fails_cleanly(root, "prepare", "Set data.read.encoding to the file's encoding")
    root = project(
        tmp_path / "latin1",
        {"Sentences_AllAgree.txt": data},
        splits={"train": "Sentences_AllAgree.txt"},
        read={"encoding": "latin-1"},
    )
    splits, labels, summary, _ = prepared(root)
    assert labels == ["negative", "neutral", "positive"]
    assert sum(summary[split]["rows"] for split in ("train", "validation", "test")) == 90
    texts = pd.concat([frame["text"] for frame in splits.values()])
    assert texts.str.contains("caf\xe9").sum() == 30 and not texts.str.endswith("\r").any()


def test_a_txt_file_without_a_delimiter_names_the_settings(tmp_path):
    root = project(tmp_path, {"train.txt": "".join(f"just a sentence {i}\n" for i in range(20))})
    assert_fails_cleanly(root, "prepare", "Set data.read.delimiter")


# --------------------------------------------------------------------------- folders and line files


def folder_per_class(split: str, frame: pd.DataFrame) -> dict[str, str]:
    return {
        f"{split}/{label}/{i}_7.txt": text
        for i, (text, label) in enumerate(zip(frame["text"], frame["label"], strict=True))
    }


def test_a_folder_per_class_skips_unlabelled_folders(tmp_path):
    """aclImdb: train/{neg,pos,unsup}/*.txt and test/{neg,pos}/*.txt, files beside the folders."""
    labels = ["neg", "pos"]
    files = {
        **folder_per_class("train", rows(80, labels)),
        **folder_per_class("test", rows(20, labels, offset=500)),
        **{f"train/unsup/{i}_0.txt": f"unlabelled review {i}" for i in range(25)},
        "train/urls_pos.txt": "http://example.com\n",
        "imdb.vocab": "the\nand\n",
    }
    root = project(tmp_path, files)
    splits, names, summary, log = prepared(root)
    assert names == labels
    assert summary["train"]["rows"] + summary["validation"]["rows"] == 80 and summary["test"]["rows"] == 20
    assert summary["train"]["origin"] == "train/ (a folder per class)"
    assert not pd.concat([f["text"] for f in splits.values()]).str.startswith("unlabelled").any()
    assert "unsup/ (25 files): an unlabelled folder, not a class" in log


def test_a_dataset_folder_of_class_folders_is_the_training_split(tmp_path):
    """BBC News: bbc/<topic>/*.txt, no splits; validation and test are carved."""
    files = {f"{label}/{i:03d}.txt": text for i, (text, label) in enumerate(zip(*rows(60).values.T, strict=True))}
    files["README.TXT"] = "BBC news, five topics\n"
    # Most files UTF-8, one latin-1 (BBC's sport/199.txt): a list of encodings reads both as meant.
    files["joy/100.txt"] = "Prize of \u00a3100 in UTF-8".encode()
    files["joy/101.txt"] = "Prize of \u00a3101 in latin-1".encode("latin-1")
    root = project(tmp_path, files, read={"encoding": ["utf-8", "latin-1"]})
    splits, labels, summary, log = prepared(root)
    assert labels == sorted(LABELS) and summary["train"]["origin"] == "the dataset folder (a folder per class)"
    assert summary["test"]["origin"] == "carved from train (10%)" and no_overlap(splits)
    texts = set(pd.concat([frame["text"] for frame in splits.values()]))
    assert {"Prize of \u00a3100 in UTF-8", "Prize of \u00a3101 in latin-1"} <= texts
    assert "101.txt is not valid utf-8: read as latin-1" in log


def test_parallel_line_files_with_a_mapping(tmp_path):
    """TweetEval: <split>_text.txt + <split>_labels.txt, names in mapping.txt; a text may hold
    a Unicode line separator, which is not a new line."""
    train, val, test = (with_ids(rows(n, offset=o)) for n, o in ((60, 0), (9, 300), (12, 600)))
    train.loc[4, "text"] = "one text\u2028with a line separator"
    files = {
        "train_text.txt": "".join(t + "\n" for t in train["text"]),
        "train_labels.txt": "".join(f"{label}\n" for label in train["label"]),
        "val_text.txt": "".join(t + "\n" for t in val["text"]),
        "val_labels.txt": "".join(f"{label}\n" for label in val["label"]),
        "test_text.txt": "".join(t + "\n" for t in test["text"]),
        "test_labels.txt": "".join(f"{label}\n" for label in test["label"]),
        "mapping.txt": "".join(f"{i}\t{name}\n" for i, name in enumerate(LABELS)),
    }
    splits, labels, summary, _ = prepared(project(tmp_path, files))
    assert labels == LABELS  # names by id from mapping.txt
    assert [summary[s]["rows"] for s in ("train", "validation", "test")] == [60, 9, 12]
    assert summary["validation"]["origin"] == "val_text.txt + val_labels.txt"
    assert "one text\u2028with a line separator" in set(splits["train"]["text"])


def test_line_files_of_different_lengths_are_an_error(tmp_path):
    files = {"train_text.txt": "a\nb\nc\n", "train_labels.txt": "0\n1\n"}
    assert_fails_cleanly(project(tmp_path, files), "prepare", "train_text.txt has 3 lines but train_labels.txt has 2")


# --------------------------------------------------------------------------- Hub shards


def test_hub_parquet_shards_are_concatenated_in_order_with_their_label_names(tmp_path):
    """A Hub dataset repository as downloaded: data/train-0000N-of-00002.parquet and a test shard,
    label names in the `datasets` features the parquet files carry."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)})
    whole = with_ids(rows(90)).drop(columns="id")
    root = project(tmp_path, {})
    folder = root / "mydata" / "data"
    folder.mkdir()
    for number, part in enumerate((whole.iloc[:50], whole.iloc[50:])):
        shard = datasets.Dataset.from_pandas(part, features=features, preserve_index=False)
        shard.to_parquet(folder / f"train-{number:05d}-of-00002.parquet")
    test = datasets.Dataset.from_pandas(with_ids(rows(15, offset=700)).drop(columns="id"), features=features)
    test.to_parquet(folder / "test-00000-of-00001.parquet")
    splits, labels, summary, _ = prepared(root)
    assert labels == LABELS
    assert summary["train"]["origin"] == "data/train-*.parquet (2 files)"
    assert summary["train"]["available"] + summary["validation"]["available"] == 90
    assert summary["test"]["rows"] == 15


# --------------------------------------------------------------------------- errors, carving, classes


def test_a_folder_with_nothing_readable_names_the_setting(tmp_path):
    root = project(tmp_path, {"corpus.xml": "<docs/>", "notes/readme.md": "hi"})
    assert_fails_cleanly(root, "prepare", "Name the train file, glob or folder in data.splits.train")


def test_carving_keeps_every_copy_of_a_text_on_one_side(tmp_path):
    train = rows(200)
    copies = train.iloc[:60].copy()
    copies["text"] = "  " + copies["text"].str.upper() + " "  # the same texts, other case and spacing
    root = project(tmp_path, {"train.csv": pd.concat([train, copies], ignore_index=True)})
    splits, _, summary, log = prepared(root)
    normalised = {s: set(f["text"].str.split().str.join(" ").str.casefold()) for s, f in splits.items()}
    assert not normalised["train"] & normalised["test"] and not normalised["train"] & normalised["validation"]
    assert summary["leakage"] == {"validation_texts_in_train": 0, "test_texts_in_train": 0}
    assert sum(summary[s]["rows"] for s in ("train", "validation", "test")) == 260
    assert "each text's rows stay on one side" in log


def test_a_class_with_few_training_rows_is_named(tmp_path):
    train = pd.concat([rows(60), pd.DataFrame({"text": ["a rare one", "another rare"], "label": ["awe"] * 2})])
    root = project(
        tmp_path, {"train.csv": train, "test.csv": rows(9, offset=100)}, carve={"validation": 0.05, "test": 0.1}
    )
    result = run_stage(root, "prepare")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "few training rows for 'awe' (" in result.stderr


def test_a_training_split_with_one_class_is_an_error(tmp_path):
    train = rows(30, labels=["joy"])
    root = project(tmp_path, {"train.csv": train, "test.csv": rows(6, offset=100)})
    assert_fails_cleanly(root, "prepare", "has a single class, 'joy', in all 30 usable rows")


def test_class_folders_named_like_a_split_and_files_without_a_suffix(tmp_path):
    """20 Newsgroups: 20news-bydate-train/<group>/<number> and 20news-bydate-test/..., no suffixes."""
    train, test = rows(60), rows(12, offset=500)
    files = {
        f"20news-bydate-train/{label}/{5000 + i}": t for i, (t, label) in enumerate(zip(*train.values.T, strict=True))
    }
    files |= {
        f"20news-bydate-test/{label}/{9000 + i}": t for i, (t, label) in enumerate(zip(*test.values.T, strict=True))
    }
    splits, labels, summary, _ = prepared(project(tmp_path, files))
    assert summary["train"]["origin"] == "20news-bydate-train/ (a folder per class)"
    assert summary["test"]["origin"] == "20news-bydate-test/ (a folder per class)" and summary["test"]["rows"] == 12
    assert labels == sorted(LABELS) and no_overlap(splits)
