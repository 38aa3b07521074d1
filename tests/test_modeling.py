import pytest
import torch
from safetensors.torch import load_file, save_file

from src.errors import ModelError
from src.modeling import (
    add_lora,
    count_parameters,
    load_classifier,
    load_finetuned,
    load_tokenizer,
    resolve_model,
    save_finetuned,
)
from src.params import LoraParams, ModelParams

LABELS = ["sadness", "joy", "love"]
LORA = LoraParams(r=4, alpha=8, dropout=0.0, target_modules="all-linear")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def model_params(name: str, **overrides) -> ModelParams:
    values = {"name": name, "revision": "main", "max_length": 32, "head_seed": 0} | overrides
    return ModelParams(**values)


def test_default_model_resolves_offline_to_the_packaged_weights(minilm_dir):
    assert resolve_model(MINILM) == (str(minilm_dir), None)
    assert (minilm_dir / "model.safetensors").is_file()


def test_pinned_revision_goes_to_the_hub_not_the_package():
    assert resolve_model(MINILM, "abc123") == (MINILM, "abc123")


def test_packaged_minilm_loads_pretrained_encoder_and_seeded_head(minilm_dir):
    classifier = load_classifier(model_params(MINILM), LABELS)
    assert classifier.config.id2label == {0: "sadness", 1: "joy", 2: "love"}
    assert classifier.config.label2id == {"sadness": 0, "joy": 1, "love": 2}
    pretrained = load_file(minilm_dir / "model.safetensors")
    key = next(k for k in pretrained if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert torch.equal(classifier.bert.encoder.layer[0].attention.self.query.weight, pretrained[key])
    again = load_classifier(model_params(MINILM), LABELS)
    assert torch.equal(classifier.classifier.weight, again.classifier.weight)
    other_seed = load_classifier(model_params(MINILM, head_seed=1), LABELS)
    assert not torch.equal(classifier.classifier.weight, other_seed.classifier.weight)


def test_checkpoint_missing_encoder_weights_is_refused(tiny_bert_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in tiny_bert_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    weights = load_file(broken / "model.safetensors")
    dropped = [k for k in weights if "layer.1." in k]
    save_file({k: v for k, v in weights.items() if k not in dropped}, broken / "model.safetensors", {"format": "pt"})
    with pytest.raises(ModelError, match=rf"missing {len(dropped)} pretrained encoder weight"):
        load_classifier(model_params(str(broken)), LABELS)


def test_unknown_model_offline_says_how_to_use_a_local_folder():
    with pytest.raises(ModelError, match=r"Hub is unreachable .*'nobody/no-such-model' is neither a local folder.*Set model.name to a local folder"):
        load_tokenizer(model_params("nobody/no-such-model"))


def test_lora_trains_a_small_share_and_records_the_portable_name(tiny_bert_dir):
    model = add_lora(load_classifier(model_params(str(tiny_bert_dir)), LABELS), LORA, "some/hub-id")
    trainable, total = count_parameters(model)
    assert 0 < trainable < 0.1 * total
    assert model.peft_config["default"].base_model_name_or_path == "some/hub-id"
    # peft keeps the fresh head trainable for SEQ_CLS.
    assert any("classifier" in name for name, p in model.named_parameters() if p.requires_grad)


def test_save_and_reload_give_identical_logits(tiny_bert_dir, tmp_path):
    params = model_params(str(tiny_bert_dir))
    model = add_lora(load_classifier(params, LABELS), LORA, str(tiny_bert_dir))
    with torch.no_grad():  # move the adapter and head off their initial values
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    tokenizer = load_tokenizer(params)
    adapter_dir = tmp_path / "adapter"
    save_finetuned(model, tokenizer, LABELS, adapter_dir)
    assert {p.name for p in adapter_dir.iterdir()} >= {"adapter_model.safetensors", "adapter_config.json", "labels.json", "tokenizer.json"}
    assert not list(adapter_dir.glob("*.bin"))

    reloaded, reloaded_tokenizer, names = load_finetuned(adapter_dir, params)
    assert names == LABELS
    batch = reloaded_tokenizer(["i feel wonderful today", "what a gloomy day"], padding=True, return_tensors="pt")
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(**batch).logits, reloaded(**batch).logits, rtol=0, atol=0)


def test_missing_adapter_is_a_clear_error(tmp_path, tiny_bert_dir):
    with pytest.raises(ModelError, match=r"No trained adapter in .*dvc repro train"):
        load_finetuned(tmp_path, model_params(str(tiny_bert_dir)))


def test_hub_reachability_is_probed_without_the_offline_flag(monkeypatch):
    """With HF_HUB_OFFLINE unset the probe really dials the endpoint; here nothing answers."""
    from src.hub import hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    hub_reachable.cache_clear()
    try:
        assert hub_reachable() is False
    finally:
        hub_reachable.cache_clear()


def test_corrupt_adapter_is_a_clear_error(tiny_bert_dir, tmp_path):
    params = model_params(str(tiny_bert_dir))
    model = add_lora(load_classifier(params, LABELS), LORA, str(tiny_bert_dir))
    adapter_dir = tmp_path / "adapter"
    save_finetuned(model, load_tokenizer(params), LABELS, adapter_dir)
    (adapter_dir / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match=r"The adapter in .* could not be loaded.*retrain it"):
        load_finetuned(adapter_dir, params)
