"""Multi-label data: each input form, the task found or forced, splits that keep every label, the
weighted loss, the head's bias shift, the task registry's decisions and files, and one small
`dvc repro` through the real stages with predict and export on its result.

The texts are real tweets from ../shared/data/emotion. A multi-label set is made of them the way
mixed feelings are written: every third text is two tweets joined, labelled with both tweets'
emotions (`mixed_feelings`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from src.core.errors import DataError
from src.core.params import Params
from src.data.sources import load_labelled_splits
from src.data.splits import carve_missing, label_counts, stratified_sample
from src.model.class_balance import WeightedBinaryCrossEntropy, positive_weights
from src.scoring.tasks import NO_LABEL, TASKS
from tests.conftest import EMOTION_LABELS, copy_shrunken_project
from tests.test_pipeline import dvc, run

MULTI = TASKS["multi_label"]


def mixed_feelings(emotion_dir: Path, split: str, count: int, offset: int = 0) -> pd.DataFrame:
    """`count` texts from emotion's `split`: every third one two tweets joined, with both labels."""
    source = pd.read_json(emotion_dir / f"{split}.jsonl", lines=True).iloc[offset:]
    texts, labels, taken = [], [], 0
    for i in range(count):
        first = source.iloc[taken]
        if i % 3 == 2:
            second = source.iloc[taken + 1]
            texts.append(f"{first['text']} ... {second['text']}")
            labels.append(sorted({EMOTION_LABELS[first["label"]], EMOTION_LABELS[second["label"]]}))
            taken += 2
        else:
            texts.append(first["text"])
            labels.append([EMOTION_LABELS[first["label"]]])
            taken += 1
    return pd.DataFrame({"text": texts, "labels": labels})


@pytest.fixture(scope="module")
def feelings(emotion_dir) -> dict[str, pd.DataFrame]:
    return {
        "train": mixed_feelings(emotion_dir, "train", 240),
        "validation": mixed_feelings(emotion_dir, "validation", 60),
        "test": mixed_feelings(emotion_dir, "test", 60),
    }


def load(folder: Path, **data):
    """`load_labelled_splits` on `folder` with the repository's data params, these changed."""
    params = dataclasses.replace(Params.load().data, dataset=str(folder), mirrors=[], **data)
    return load_labelled_splits(params)


def names_of(dataset, split: str) -> list[list[str]]:
    return [[dataset.label_names[i] for i in ids] for ids in dataset.splits[split]["label"]]


# --------------------------------------------------------------------------- input forms


def test_jsonl_lists_of_names_are_found_multi_label_and_said_so(tmp_path, feelings, caplog):
    folder = tmp_path / "data"
    folder.mkdir()
    for split, frame in feelings.items():
        frame.to_json(folder / f"{split}.jsonl", orient="records", lines=True)
    with caplog.at_level(logging.INFO):
        dataset = load(folder, label_column="labels")
    assert dataset.task == "multi_label"
    several = feelings["train"]["labels"].map(len).ge(2).mean()  # two tweets of one emotion make one label
    assert f"multi-label (data.task auto): {several:.1%} of the training rows hold two or more labels (lists)" in (
        caplog.text
    )
    assert dataset.label_names == sorted(EMOTION_LABELS)  # names numbered in sorted order
    assert names_of(dataset, "test") == feelings["test"]["labels"].tolist()


def test_delimited_ids_headerless_with_names_from_a_labels_file(tmp_path, feelings):
    """GoEmotions as published: `text<TAB>3,15<TAB>id`, no header, names in emotions.txt by id."""
    names = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    folder = tmp_path / "goemotions"
    folder.mkdir()
    (folder / "emotions.txt").write_text("\n".join(names) + "\n")
    for split, file in (("train", "train.tsv"), ("validation", "dev.tsv"), ("test", "test.tsv")):
        ids = [",".join(str(names.index(n)) for n in labels) for labels in feelings[split]["labels"]]
        lines = [f"{t}\t{i}\tid{n}" for n, (t, i) in enumerate(zip(feelings[split]["text"], ids, strict=True))]
        (folder / file).write_text("\n".join(lines) + "\n")
    dataset = load(folder, label_names="emotions.txt")
    assert dataset.task == "multi_label"
    assert dataset.label_names == names  # id order, from the file
    assert [sorted(row) for row in names_of(dataset, "validation")] == feelings["validation"]["labels"].tolist()


def test_a_separator_other_than_comma_is_found_or_set(tmp_path, feelings):
    folder = tmp_path / "data"
    folder.mkdir()
    for split, frame in feelings.items():
        frame.assign(labels=frame["labels"].str.join(";")).to_csv(folder / f"{split}.csv", index=False)
    assert load(folder, label_column="labels").task == "multi_label"
    dataset = load(folder, label_column="labels", label_separator=";")
    assert names_of(dataset, "train") == feelings["train"]["labels"].tolist()


def test_zero_one_columns_keep_all_zero_rows_as_none_of_these(tmp_path, feelings):
    """SemEval-2018 E-c: one 0/1 column per emotion; a row of zeros says "none of these"."""
    folder = tmp_path / "ec"
    folder.mkdir()
    for split, frame in feelings.items():
        table = pd.DataFrame({"ID": range(len(frame)), "Tweet": frame["text"]})
        for name in EMOTION_LABELS:
            table[name] = frame["labels"].map(lambda labels, name=name: int(name in labels))
        table.loc[0, EMOTION_LABELS] = 0  # no emotion at all
        table.to_csv(folder / f"{split}.txt", sep="\t", index=False)
    dataset = load(folder, text_column="Tweet", label_column=EMOTION_LABELS)
    assert dataset.task == "multi_label" and dataset.label_names == sorted(EMOTION_LABELS)
    assert names_of(dataset, "test")[0] == [] and len(dataset.splits["test"]) == 60  # kept, not dropped
    assert names_of(dataset, "test")[1:] == feelings["test"]["labels"].tolist()[1:]


def test_a_zero_one_column_holding_another_value_is_named(tmp_path, feelings):
    folder = tmp_path / "ec"
    folder.mkdir()
    table = pd.DataFrame({"text": feelings["train"]["text"], "joy": 1, "anger": 0})
    table.loc[3, "anger"] = 2
    table.to_csv(folder / "train.csv", index=False)
    with pytest.raises(DataError, match=r"the label column 'anger' holds '2'; each of data.label_column's 0/1"):
        load(folder, label_column=["joy", "anger"])


def test_an_empty_list_is_kept_and_a_missing_label_dropped(tmp_path, feelings):
    folder = tmp_path / "data"
    folder.mkdir()
    train = feelings["train"].copy()
    train.at[0, "labels"] = []  # explicitly none of the labels
    train.at[1, "labels"] = None  # not labelled
    train.to_json(folder / "train.jsonl", orient="records", lines=True)
    dataset = load(folder, label_column="labels", carve={"validation": 0.2, "test": 0.2})
    every = pd.concat(dataset.splits.values())
    assert len(every) == 239 and (every["label"].map(len) == 0).sum() == 1
    assert dataset.dropped["train"]["null_label"] == 1


def test_task_forced_either_way(tmp_path, feelings, emotion_dir, caplog):
    folder = tmp_path / "data"
    folder.mkdir()
    for split, frame in feelings.items():
        frame.assign(labels=frame["labels"].str.join(",")).to_json(
            folder / f"{split}.jsonl", orient="records", lines=True
        )
    with caplog.at_level(logging.WARNING):
        single = load(folder, label_column="labels", task="single_label")
    assert single.task == "single_label" and "joy,sadness" in single.label_names
    assert "each such list is read as one class of its own" in caplog.text
    # Single-label data forced multi-label: one label per row, as lists.
    multi = load(emotion_dir, task="multi_label", sample_size={"train": 300, "validation": 60, "test": 60})
    assert multi.task == "multi_label" and multi.splits["test"]["label"].map(len).eq(1).all()


def test_list_of_classlabel_names_come_from_parquet_features(tmp_path, feelings):
    """A Hub dataset's multi-label column: List(ClassLabel(names=...)) stored in the parquet schema."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "labels": datasets.List(datasets.ClassLabel(names=EMOTION_LABELS))}
    )
    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    for split, frame in feelings.items():
        ids = frame["labels"].map(lambda labels: [EMOTION_LABELS.index(n) for n in labels]).tolist()
        datasets.Dataset.from_dict({"text": frame["text"].tolist(), "labels": ids}, features=features).to_parquet(
            str(folder / f"{split}-00000-of-00001.parquet")
        )
    dataset = load(tmp_path / "hub", label_column="labels")
    assert dataset.label_names == EMOTION_LABELS
    assert [sorted(row) for row in names_of(dataset, "test")] == feelings["test"]["labels"].tolist()


def test_label_names_file_that_is_missing_names_the_setting(tmp_path, feelings):
    folder = tmp_path / "data"
    folder.mkdir()
    feelings["train"].to_json(folder / "train.jsonl", orient="records", lines=True)
    with pytest.raises(DataError, match="data.label_names is 'names.txt', but .* does not exist"):
        load(folder, label_column="labels", label_names="names.txt")


# --------------------------------------------------------------------------- splits


def encoded(frame: pd.DataFrame) -> pd.DataFrame:
    ids = {name: i for i, name in enumerate(sorted(EMOTION_LABELS))}
    return frame.assign(label=frame["labels"].map(lambda labels: [ids[n] for n in labels])).drop(columns="labels")


def test_sample_keeps_every_label_near_its_share_and_is_seeded(feelings):
    train = encoded(feelings["train"])
    sample = stratified_sample(train, 60, seed=42)
    again = stratified_sample(train, 60, seed=42)
    assert sample.equals(again)
    assert set(label_counts(sample).index) == set(label_counts(train).index)
    shares = label_counts(sample) / len(sample) - label_counts(train) / len(train)
    assert shares.abs().max() < 0.05
    with pytest.raises(DataError, match="too few to keep every label"):
        stratified_sample(train, 3, seed=42)


def test_carving_keeps_every_label_in_every_split(feelings):
    splits, carved = carve_missing({"train": encoded(feelings["train"])}, {"validation": 0.15, "test": 0.15}, 7)
    assert carved == ["validation", "test"]
    assert sum(len(frame) for frame in splits.values()) == 240
    for frame in splits.values():
        assert set(label_counts(frame).index) == set(range(6))
    texts = [set(frame["text"]) for frame in splits.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


# --------------------------------------------------------------------------- loss, head and decisions


def test_balanced_positive_weights_and_the_weighted_loss_match_torch():
    targets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    weights = positive_weights(targets, "balanced")
    assert weights.tolist() == [1 / 3, 3.0, 1.0]  # negatives / positives; a label no row has gets 1
    assert positive_weights(targets, "none") is None
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, -3.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor(targets, dtype=torch.float32)
    loss = WeightedBinaryCrossEntropy(weights)({"logits": logits}, labels)
    summed = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weights, dtype=torch.float32), reduction="sum")(
        logits, labels
    )
    # A weighted mean: positives of label 0 weigh 1/3 each (3 cells), label 1's positive 3, the 8 negatives 1.
    assert loss.item() == pytest.approx(summed.item() / (3 * (1 / 3) + 3 + 8), rel=1e-6)
    unweighted = WeightedBinaryCrossEntropy(np.ones(3))({"logits": logits}, labels)
    assert unweighted.item() == pytest.approx(torch.nn.BCEWithLogitsLoss()(logits, labels).item(), rel=1e-6)


def test_shifting_the_output_bias_moves_each_labels_logit(minilm_dir):
    from src.core.params import ModelParams
    from src.model.finetuned import adapt, shift_output_bias
    from src.model.pretrained import load_classifier, load_tokenizer

    model_params = ModelParams(name=str(minilm_dir), revision="main", max_length=32, head_seed=0)
    classifier = load_classifier(model_params, EMOTION_LABELS, MULTI.problem_type)
    assert classifier.config.problem_type == "multi_label_classification"
    model = adapt(classifier, "lora", Params.load().lora, "minilm").eval()
    inputs = load_tokenizer(model_params)(["i feel wonderful"], return_tensors="pt")
    before = model(**inputs).logits
    offsets = np.log([1, 2, 3, 4, 5, 6])
    shift_output_bias(model, -offsets)
    after = model(**inputs).logits
    assert torch.allclose(after - before, torch.tensor(-offsets, dtype=torch.float32), atol=1e-5)


def test_multi_label_evaluation_files_show_labels_found_missed_and_added():
    test = pd.DataFrame({"text": ["a", "b", "c"], "label": [[0, 1], [2], []]})
    probabilities = np.array([[0.9, 0.2, 0.1], [0.1, 0.1, 0.95], [0.6, 0.1, 0.1]])
    evaluation = MULTI.evaluate(test, probabilities, ["joy", "love", "fear"], bins=5, thresholds=[0.5, 0.5, 0.5])
    assert evaluation.predictions["actual"].tolist() == ['["joy", "love"]', '["fear"]', "[]"]
    assert evaluation.predictions["predicted"].tolist() == ['["joy"]', '["fear"]', '["joy"]']
    pairs = list(evaluation.confusion.itertuples(index=False, name=None))
    assert pairs == [("joy", "joy"), ("love", NO_LABEL), ("fear", "fear"), (NO_LABEL, "joy")]
    metrics = evaluation.metrics
    assert metrics["subset_accuracy"] == pytest.approx(1 / 3)
    assert metrics["per_label"]["love"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "threshold": 0.5}
    # A threshold per label decides: love at 0.15 is found.
    tuned = MULTI.evaluate(test, probabilities, ["joy", "love", "fear"], bins=5, thresholds=[0.5, 0.15, 0.5])
    assert tuned.predictions["predicted"].tolist()[0] == '["joy", "love"]'


def test_thresholds_tuned_on_validation_or_the_fallback_for_all():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=(400, 3))
    y_true[:, 2] = 0
    y_true[:2, 2] = 1  # two positives: too rare to tune
    probabilities = np.clip(0.3 * y_true + rng.uniform(0, 0.6, size=y_true.shape), 0, 1)
    settings = Params.load().eval.thresholds
    tuned = MULTI.tune_thresholds(y_true, probabilities, settings)
    assert tuned[2] == settings.fallback and all(0.3 < t < 0.7 for t in tuned[:2])
    none = MULTI.tune_thresholds(y_true, probabilities, dataclasses.replace(settings, tune="none"))
    assert none == [settings.fallback] * 3


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def multilabel_project(tmp_path_factory, emotion_dir, feelings) -> Path:
    """The shrunken project on a mixed-feelings dataset, `dvc repro` run once."""
    root = copy_shrunken_project(tmp_path_factory.mktemp("multilabel"), emotion_dir)
    folder = root.parent / "feelings"
    folder.mkdir()
    for split, frame in feelings.items():
        frame.to_json(folder / f"{split}.jsonl", orient="records", lines=True)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"].update(
        dataset=str(folder), label_column="labels", sample_size={"train": 120, "validation": 60, "test": 60}
    )
    params["eval"]["thresholds"]["min_positives"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "multi-label project"], root)
    dvc("repro", cwd=root)
    return root


@pytest.mark.slow
def test_repro_scores_every_model_as_multi_label_on_the_same_rows(multilabel_project, feelings):
    root = multilabel_project
    metrics = {
        name: json.loads((root / "metrics" / f"{name}.json").read_text())
        for name in ("baseline", "classical", "finetuned")
    }
    for scores in metrics.values():
        for key in ("macro_f1", "micro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "roc_auc_macro"):
            assert 0 <= scores[key] <= 1
        assert set(scores["per_label"]) == set(EMOTION_LABELS) and 0 <= scores["calibration"]["ece"] <= 1
    significance = json.loads((root / "metrics" / "significance.json").read_text())
    assert set(significance["paired"]) == {"finetuned_vs_baseline", "finetuned_vs_classical"}
    for name, bounds in significance["intervals"].items():
        assert bounds["macro_f1"]["low"] <= metrics[name]["macro_f1"] <= bounds["macro_f1"]["high"]
    manifest = json.loads((root / "models" / "finetuned" / "method.json").read_text())
    assert manifest["task"] == "multi_label" and set(manifest["thresholds"]) == set(EMOTION_LABELS)
    train = json.loads((root / "metrics" / "train.json").read_text())
    assert train["thresholds"] == [manifest["thresholds"][n] for n in manifest["label_names"]]
    assert metrics["finetuned"]["per_label"]["joy"]["threshold"] == manifest["thresholds"]["joy"]
    data = json.loads((root / "metrics" / "data.json").read_text())
    sizes = feelings["test"]["labels"].map(len)
    assert data["test"]["label_sets"]["several_labels"] == (sizes >= 2).sum()
    assert sum(data["test"]["classes"].values()) == sizes.sum()
    confusion = pd.read_csv(root / "plots" / "finetuned" / "confusion.csv", keep_default_na=False)
    assert set(confusion["actual"]) | set(confusion["predicted"]) <= {*EMOTION_LABELS, NO_LABEL}
    report = (root / "reports" / "report.md").read_text()
    for section in (
        "# Fine-tuning report (multi-label)",
        "## Per-label scores",
        "## Labels found, missed and added",
        "Labels most often missed",
        "Labels most often added",
        "paired sign-flip permutation test",
    ):
        assert section in report
    for figure in ("confusion_matrices", "per_class_f1", "reliability", "training_curves"):
        assert (root / "reports" / "figures" / f"{figure}.png").stat().st_size > 1000


@pytest.mark.slow
def test_predict_gives_every_label_above_its_threshold(multilabel_project):
    root = multilabel_project
    output = run(
        [sys.executable, "-m", "src.predict", "--json", "i feel so happy and loved ... but also scared"],
        root,
        stdout_only=True,
    )
    row = json.loads(output.strip().splitlines()[-1])
    thresholds = json.loads((root / "models" / "finetuned" / "method.json").read_text())["thresholds"]
    assert row["labels"] == [n for n, p in row["probabilities"].items() if p >= thresholds[n]]
    assert len(row["probabilities"]) == 6  # one per label, each its own sigmoid


@pytest.mark.slow
def test_export_is_a_sigmoid_model_with_its_thresholds(multilabel_project, tmp_path):
    root = multilabel_project
    out = tmp_path / "merged"
    run([sys.executable, "-m", "src.export", "--out", str(out)], root)
    assert json.loads((out / "config.json").read_text())["problem_type"] == "multi_label_classification"
    manifest = json.loads((root / "models" / "finetuned" / "method.json").read_text())
    assert json.loads((out / "thresholds.json").read_text()) == manifest["thresholds"]
    card = (out / "README.md").read_text()
    assert "## Thresholds" in card and 'function_to_apply="sigmoid"' in card and "Micro-F1" in card
