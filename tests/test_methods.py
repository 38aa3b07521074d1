"""Every method on every supported family: one real Trainer step, save, reload, same logits.

Tiny randomly initialised models (conftest.tiny_model_dirs) go through the same `train_model`,
`save_result` and `load_result` the stages use, on a handful of real emotion tweets.
"""

import argparse
import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from src.core.errors import DataError, ModelError, ParamsError
from src.core.params import EarlyStoppingParams, Params
from src.core.paths import PARAMS_FILE
from src.model.families import FAMILIES, head_modules
from src.model.finetuned import MANIFEST_FILENAME, adapt, load_result, merged_model, save_result
from src.model.methods import METHODS
from src.model.pretrained import load_classifier, load_tokenizer, set_dropout
from src.model.trainer import LengthBucketTrainer, head_parameters, model_dropout, train_model
from src.scoring.calibration import LOG_TEMPERATURE_BOUNDS

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
FAMILY_NAMES = ["bert", "distilbert", "roberta", "mpnet", "gpt2"]
TEXTS = ["i feel wonderful today", "this is so unfair and i am furious", "ok"]  # unequal lengths: padding matters


def tiny_params(model_dir, method: str, **section) -> Params:
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    raw["model"].update(name=str(model_dir), max_length=32)
    raw["peft"]["method"] = method
    # One step at the full rate: with warm-up, the first step's rate would be 0 and change nothing.
    raw["train"].update(epochs=1, min_steps=0, batch_size=8, precision="fp32", warmup_ratio=0.0, min_warmup_steps=0)
    raw["prompt_tuning"]["num_virtual_tokens"] = 4
    raw["prefix_tuning"]["num_virtual_tokens"] = 4
    raw[method].update(section)
    return Params.from_dict(raw)


@pytest.fixture(scope="module")
def few_rows(emotion_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.read_json(emotion_dir / "train.jsonl", lines=True)
    return rows.iloc[:8][["text", "label"]], rows.iloc[8:12][["text", "label"]]


def logits(model, tokenizer, texts=TEXTS) -> torch.Tensor:
    model.eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).logits


def train_one_step(params, few_rows, tmp_path):
    train, validation = few_rows
    return train_model(
        params, LABELS, train, validation, log_dir=tmp_path / "live", checkpoint_root=tmp_path / "checkpoints"
    )


def test_families_table_covers_the_promised_families():
    assert set(FAMILY_NAMES) <= set(FAMILIES)


# DistilBERT and MPNet take no past_key_values, which prefix tuning needs (test below).
NO_PREFIX = ["distilbert", "mpnet"]
COMBINATIONS = [
    (method, family)
    for method in METHODS
    for family in FAMILY_NAMES
    if not (method == "prefix_tuning" and family in NO_PREFIX)
]


@pytest.mark.parametrize(("method", "family"), COMBINATIONS)
def test_train_save_reload_gives_identical_logits(family, method, tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs[family], method)
    result = train_one_step(params, few_rows, tmp_path)
    before = logits(result.model, result.tokenizer)

    out = tmp_path / "finetuned"
    save_result(result.model, result.tokenizer, params.peft.method, params.model, LABELS, out)
    assert (out / METHODS[method].weights_file).is_file() and (out / MANIFEST_FILENAME).is_file()
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    reloaded, tokenizer, manifest = load_result(out)

    assert manifest["method"] == method and manifest["label_names"] == LABELS
    assert torch.equal(logits(reloaded, tokenizer), before)
    trainable, total = result.efficiency["parameters"]["trainable"], result.efficiency["parameters"]["total"]
    assert 0 < trainable <= total
    assert (trainable == total) == (method == "full")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_lora_auto_targets_each_block_linear_layer_but_not_the_head(family, tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs[family], "lora")
    model = train_one_step(params, few_rows, tmp_path).model
    adapted = {name.rsplit(".", 1)[0] for name, _ in model.named_modules() if name.endswith(".lora_A")}
    layer_linears = {
        name
        for name, module in load_classifier(params.model, LABELS).named_modules()
        if type(module).__name__ in ("Linear", "Conv1D")
        and name.split(".")[0] not in head_modules(model.base_model.model)
    }
    assert {name.removeprefix("base_model.model.") for name in adapted} == layer_linears


def test_text_pairs_train_save_reload_and_predict_as_pairs(tiny_model_dirs, few_rows, tmp_path):
    """A text-pair task goes to the tokenizer as pairs in training, in inference and in predict."""
    from src.model.inference import predict_proba
    from src.predict import read_texts

    train, validation = (rows.assign(text_pair=rows["text"].str[::-1]) for rows in few_rows)
    params = tiny_params(tiny_model_dirs["bert"], "lora")
    result = train_model(
        params, LABELS, train, validation, log_dir=tmp_path / "live", checkpoint_root=tmp_path / "checkpoints"
    )
    out = tmp_path / "finetuned"
    save_result(result.model, result.tokenizer, "lora", params.model, LABELS, out, text_pair=True)
    model, tokenizer, manifest = load_result(out)
    assert manifest["text_pair"] is True

    firsts, seconds = ["i feel wonderful today", "ok"], ["not at all", "sure"]
    batch = tokenizer(firsts, seconds, padding=True, return_tensors="pt")
    assert (batch["token_type_ids"] == 1).any()  # the second text is marked as such
    with torch.inference_mode():
        expected = torch.softmax(model(**batch).logits, dim=-1).numpy()
    got = predict_proba(model, tokenizer, firsts, 8, 32, pairs=seconds, device=torch.device("cpu"))
    np.testing.assert_allclose(got, expected, atol=1e-5)

    args = argparse.Namespace(texts=[f"{a}\t{b}" for a, b in zip(firsts, seconds, strict=True)], file=None, column=None)
    assert read_texts(args, pair=True) == (firsts, seconds)
    args.texts = ["no tab here"]
    with pytest.raises(DataError, match="give each as 'first text<TAB>second text'"):
        read_texts(args, pair=True)


def test_gpt2_pads_with_eos_on_the_right_and_pools_the_last_real_token(tiny_model_dirs):
    params = tiny_params(tiny_model_dirs["gpt2"], "lora")
    tokenizer = load_tokenizer(params.model)
    classifier = load_classifier(params.model, LABELS).eval()
    assert tokenizer.pad_token == tokenizer.eos_token and tokenizer.padding_side == "right"
    assert classifier.config.pad_token_id == tokenizer.eos_token_id
    together = logits(classifier, tokenizer)
    alone = torch.cat([logits(classifier, tokenizer, [text]) for text in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_head_only_leaves_every_encoder_weight_bit_identical(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "head_only")
    pretrained = load_file(tiny_model_dirs["bert"] / "model.safetensors")
    result = train_one_step(params, few_rows, tmp_path)
    encoder = {f"bert.{k}" if not k.startswith("bert.") else k: v for k, v in pretrained.items()}
    state = result.model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in encoder.items())
    untrained = load_classifier(params.model, LABELS)
    assert not torch.equal(state["classifier.weight"], untrained.state_dict()["classifier.weight"])


def test_full_changes_encoder_weights(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "full")
    pretrained = load_file(tiny_model_dirs["bert"] / "model.safetensors")
    state = train_one_step(params, few_rows, tmp_path).model.state_dict()
    changed = [
        key for key, value in pretrained.items() if not torch.equal(state[f"bert.{key.removeprefix('bert.')}"], value)
    ]
    assert any("encoder.layer." in key for key in changed)


@pytest.mark.parametrize("method", ["lora", "ia3", "head_only", "full"])
def test_merged_model_predicts_like_the_result(method, tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["distilbert"], method, **({"use_dora": True} if method == "lora" else {}))
    result = train_one_step(params, few_rows, tmp_path)
    save_result(result.model, result.tokenizer, params.peft.method, params.model, LABELS, tmp_path / "finetuned")
    model, tokenizer, _ = load_result(tmp_path / "finetuned")
    before = logits(model, tokenizer)
    merged = merged_model(model, method)
    assert type(merged).__name__ == "DistilBertForSequenceClassification"
    torch.testing.assert_close(logits(merged, tokenizer), before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning"])
def test_prompt_methods_cannot_be_merged(method, tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], method)
    with pytest.raises(ModelError, match=rf"A {method} result cannot be merged.*src.predict"):
        merged_model(train_one_step(params, few_rows, tmp_path).model, method)


@pytest.mark.parametrize("family", NO_PREFIX)
def test_prefix_tuning_on_a_model_without_past_key_values_is_refused_before_training(
    family, tiny_model_dirs, few_rows, tmp_path
):
    params = tiny_params(tiny_model_dirs[family], "prefix_tuning")
    with pytest.raises(ModelError, match=r"ForSequenceClassification .* does not accept. Use prompt_tuning"):
        train_one_step(params, few_rows, tmp_path)


def test_lora_variants_reach_peft(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "lora", use_dora=True, use_rslora=True, r=4, alpha=8)
    config = train_one_step(params, few_rows, tmp_path).model.peft_config["default"]
    assert config.use_dora and config.use_rslora and config.r == 4 and config.lora_alpha == 8


def test_ia3_auto_on_an_unknown_family_asks_for_module_names(tiny_model_dirs, few_rows, tmp_path, monkeypatch):
    monkeypatch.delitem(FAMILIES, "bert")
    params = tiny_params(tiny_model_dirs["bert"], "ia3")
    with pytest.raises(ModelError, match=r"no module table for model type 'bert'.*ia3.target_modules"):
        train_one_step(params, few_rows, tmp_path)


def test_missing_target_module_is_a_clear_error(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["distilbert"], "lora", target_modules=["query", "value"])
    with pytest.raises(ModelError, match=r"peft could not apply lora"):
        train_one_step(params, few_rows, tmp_path)


def test_result_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match=r"No trained model in .*dvc repro train"):
        load_result(tmp_path)


def test_ia3_feedforward_must_be_among_targets():
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    bad = copy.deepcopy(raw)
    bad["ia3"].update(target_modules=["key", "value"], feedforward_modules=["output.dense"])
    with pytest.raises(ParamsError, match=r"ia3.feedforward_modules \['output.dense'\] must all be in"):
        Params.from_dict(bad)
    bad["ia3"].update(target_modules="auto")
    with pytest.raises(ParamsError, match=r"must both be auto or both be lists"):
        Params.from_dict(bad)


def test_result_records_the_portable_base_name_not_the_folder(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "lora")
    model = train_one_step(params, few_rows, tmp_path).model
    assert model.peft_config["default"].base_model_name_or_path == params.model.name


def test_corrupt_weights_are_a_clear_error(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "lora")
    result = train_one_step(params, few_rows, tmp_path)
    save_result(result.model, result.tokenizer, params.peft.method, params.model, LABELS, tmp_path / "finetuned")
    (tmp_path / "finetuned" / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match=r"The lora result in .* could not be loaded.*retrain it"):
        load_result(tmp_path / "finetuned")


def test_early_stopping_stops_when_validation_stops_improving_and_keeps_the_best_epoch(
    tiny_model_dirs, few_rows, tmp_path
):
    """At a rate too small to change a float32 weight, validation loss is the same every epoch:
    with patience 1, epoch 2 brings no gain, so 2 of 5 epochs run and epoch 1 is kept."""
    params = tiny_params(tiny_model_dirs["bert"], "lora", learning_rate=1e-30)
    params = dataclasses.replace(
        params,
        train=dataclasses.replace(
            params.train, epochs=5, early_stopping=EarlyStoppingParams(metric="loss", patience=1, min_delta=0.0)
        ),
    )
    result = train_one_step(params, few_rows, tmp_path)
    record = result.efficiency
    assert record["epochs_run"] == 2 and record["kept"] == {"epoch": 1, "step": 1, "metric": "loss"}
    assert record["stopped"].startswith("early stopping: validation loss did not improve for 1 validation pass(es)")
    # The kept epoch's checkpoint and the last one are on disk until the stage removes them.
    assert sorted(p.name for p in result.checkpoints.folder.iterdir()) == ["checkpoint-1", "checkpoint-2"]
    result.checkpoints.remove()
    assert not (tmp_path / "checkpoints").exists()


def test_validation_inside_an_epoch_is_checkpointed_kept_and_stops_training(tiny_model_dirs, few_rows, tmp_path):
    """Two validation passes an epoch: the patience counts passes, so a run that stops gaining
    stops half-way through its second epoch, with the half-epoch checkpoints on disk."""
    params = tiny_params(tiny_model_dirs["bert"], "lora", learning_rate=1e-30)
    params = dataclasses.replace(
        params,
        train=dataclasses.replace(
            params.train,
            epochs=3,
            batch_size=len(few_rows[0]) // 4,  # 4 steps an epoch: passes after steps 2 and 4
            min_steps=0,
            evals_per_epoch=2,
            early_stopping=EarlyStoppingParams(metric="loss", patience=1, min_delta=0.0),
        ),
    )
    result = train_one_step(params, few_rows, tmp_path)
    record = result.efficiency
    assert record["evals_per_epoch"] == 2
    assert record["epochs_run"] == 1 and record["kept"] == {"epoch": 0.5, "step": 2, "metric": "loss"}
    assert record["stopped"] == (
        "early stopping: validation loss did not improve for 1 validation pass(es), after epoch 1 of 3"
    )
    assert sorted(p.name for p in result.checkpoints.folder.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_auto_epochs_cool_down_once_validation_stops_gaining_and_say_why(tiny_model_dirs, few_rows, tmp_path):
    """train.epochs auto at a rate too small to move a weight: the second pass gains nothing, so
    the rate cools down over half the 8 steps run (train.cooldown 0.5), and the run ends at step
    12 with a last validation pass, far short of the cap."""
    params = tiny_params(tiny_model_dirs["bert"], "lora", learning_rate=1e-30)
    params = dataclasses.replace(
        params,
        train=dataclasses.replace(
            params.train,
            epochs="auto",
            max_epochs=10,
            cooldown=0.5,
            batch_size=len(few_rows[0]) // 4,  # 4 steps an epoch
            min_steps=0,
            evals_per_epoch=1,
            early_stopping=EarlyStoppingParams(metric="loss", patience=1, min_delta=0.0),
        ),
    )
    result = train_one_step(params, few_rows, tmp_path)
    record = result.efficiency
    assert (record["epochs"], record["max_epochs"], record["epochs_run"], record["optimizer_steps"]) == (
        "auto",
        10,
        3,
        12,
    )
    assert record["stopped"] == (
        "validation loss did not beat its best by more than 0 in 1 pass(es) (best "
        f"{record['validation']['loss']:.4f}) at step 8 (epoch 2.00); cooled down to step 12 (epoch 3.00)"
    )
    assert record["kept"]["step"] == 4  # no pass beat the first


@pytest.mark.parametrize("family", ["bert", "distilbert", "gpt2"])
def test_the_fresh_head_learns_at_head_lr_scale_times_the_rate(family, tiny_model_dirs, tmp_path):
    from transformers import TrainingArguments

    params = tiny_params(tiny_model_dirs[family], "lora")
    model = adapt(load_classifier(params.model, LABELS), "lora", params.method, params.model.name)
    head = head_parameters(model)
    base = model.get_base_model()
    expected = {id(p) for name in head_modules(base) for p in base.get_submodule(name).parameters() if p.requires_grad}
    assert head == expected and head  # BERT: a weight and a bias; DistilBERT two layers; GPT-2's score, no bias
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=0.001, weight_decay=0.01, report_to="none")
    trainer = LengthBucketTrainer(model=model, args=args, group_by_length=False, head_rate=(head, 10.0))
    rates = {id(p): group["lr"] for group in trainer.create_optimizer().param_groups for p in group["params"]}
    assert all(rates[i] == pytest.approx(0.01) for i in head)
    assert {rate for i, rate in rates.items() if i not in head} == {0.001}
    assert len(rates) == sum(p.requires_grad for p in model.parameters())  # every trainable weight, once


def test_head_only_keeps_its_own_rate(tiny_model_dirs):
    params = tiny_params(tiny_model_dirs["bert"], "head_only")
    model = adapt(load_classifier(params.model, LABELS), "head_only", params.method, params.model.name)
    assert head_parameters(model) == set()  # the head is all it trains: head_lr_scale does not apply


def test_balanced_class_weights_and_temperature_reach_the_record(tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "lora")
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, class_weights="balanced"))
    result = train_one_step(params, few_rows, tmp_path)
    labels = few_rows[0]["label"].to_numpy()
    weights = result.efficiency["class_weights"]
    counts = np.bincount(labels, minlength=len(LABELS))
    for label, count in zip(LABELS, counts, strict=True):
        assert weights[label] == pytest.approx(len(labels) / (len(set(labels)) * count) if count else 1.0, abs=1e-4)
    low, high = np.exp(LOG_TEMPERATURE_BOUNDS)
    assert low <= result.temperature <= high  # the fit on 4 rows of a random model: only its plumbing


def test_auto_model_dropout_is_off_for_one_epoch_and_the_checkpoints_for_more():
    assert model_dropout("auto", epochs=1) == 0.0
    assert model_dropout("auto", epochs=2) is None
    assert model_dropout(None, epochs=1) is None
    assert model_dropout(0.2, epochs=3) == 0.2


@pytest.mark.parametrize(("epochs", "expected"), [(1, {0.0}), (2, {0.1})])
def test_auto_model_dropout_reaches_the_model_and_the_record(epochs, expected, tiny_model_dirs, few_rows, tmp_path):
    params = tiny_params(tiny_model_dirs["bert"], "lora", dropout=0.0)
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=epochs, model_dropout="auto"))
    result = train_one_step(params, few_rows, tmp_path)
    dropouts = {module.p for module in result.model.modules() if isinstance(module, torch.nn.Dropout)}
    assert dropouts == expected  # the tiny BERT's config has the usual 0.1
    assert result.efficiency["model_dropout"] == (0.0 if epochs == 1 else "checkpoint's own")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_model_dropout_zero_silences_the_model_but_keeps_the_adapter_dropout(
    family, tiny_model_dirs, few_rows, tmp_path
):
    params = tiny_params(tiny_model_dirs[family], "lora", dropout=0.1)
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, model_dropout=0.0))
    model = train_one_step(params, few_rows, tmp_path).model
    dropouts = {name: module.p for name, module in model.named_modules() if isinstance(module, torch.nn.Dropout)}
    adapter = {name: p for name, p in dropouts.items() if "lora_dropout" in name}
    assert adapter and set(adapter.values()) == {0.1}, f"{family}: LoRA's own dropout was reset"
    assert {p for name, p in dropouts.items() if name not in adapter} == {0.0}, family


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_set_dropout_zero_makes_a_training_forward_pass_repeatable(family, tiny_model_dirs):
    params = tiny_params(tiny_model_dirs[family], "full")
    classifier = load_classifier(params.model, LABELS)
    tokenizer = load_tokenizer(params.model)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    classifier.train()
    with torch.no_grad():
        assert not torch.equal(classifier(**batch).logits, classifier(**batch).logits), "the tiny model has no dropout"
        assert set_dropout(classifier, 0.0) > 0
        torch.testing.assert_close(classifier(**batch).logits, classifier(**batch).logits, rtol=0, atol=0)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_multi_label_and_reloads_with_its_task_and_thresholds(
    method, tiny_model_dirs, few_rows, tmp_path
):
    """Multi-label rows (lists of ids) through every method: the head is a sigmoid per label
    (problem_type), the weighted loss's shift is taken out of the trained bias, the thresholds
    are tuned, and the saved result reloads with the same logits, task and thresholds."""
    params = tiny_params(tiny_model_dirs["bert"], method)
    train, validation = (rows.assign(label=[[i % 6, (i + 1) % 6] for i in range(len(rows))]) for rows in few_rows)
    result = train_model(
        params, LABELS, train, validation, tmp_path / "live", tmp_path / "checkpoints", task="multi_label"
    )
    assert result.model.config.problem_type == "multi_label_classification"
    assert len(result.thresholds) == len(LABELS) and all(0 < t < 1 for t in result.thresholds)
    before = logits(result.model, result.tokenizer)
    out = tmp_path / "finetuned"
    save_result(
        result.model,
        result.tokenizer,
        method,
        params.model,
        LABELS,
        out,
        task="multi_label",
        thresholds=result.thresholds,
    )
    reloaded, tokenizer, manifest = load_result(out)
    assert manifest["task"] == "multi_label" and list(manifest["thresholds"].values()) == result.thresholds
    assert reloaded.config.problem_type == "multi_label_classification"
    assert torch.equal(logits(reloaded, tokenizer), before)
