import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from src.core.errors import ModelError
from src.core.params import ModelParams
from src.core.paths import PROJECT_ROOT
from src.model.pretrained import load_classifier, load_tokenizer, resolve_model

LABELS = ["sadness", "joy", "love"]
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
    with pytest.raises(
        ModelError,
        match=r"Hub is unreachable .*'nobody/no-such-model' is neither a local folder.*Set model.name to a local folder",
    ):
        load_tokenizer(model_params("nobody/no-such-model"))


def test_hub_reachability_is_probed_without_the_offline_flag(monkeypatch):
    """With HF_HUB_OFFLINE unset the probe really dials the endpoint; here nothing answers."""
    from src.core.hub import hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    hub_reachable.cache_clear()
    try:
        assert hub_reachable() is False
    finally:
        hub_reachable.cache_clear()


def test_an_unreachable_hub_puts_the_libraries_offline_so_peft_logs_no_fetch_warnings(tmp_path):
    """Every stage and command starts through run_command, which probes the Hub once; unreachable,
    it sets the offline switches, and peft's Hub lookup for a model's files stays silent."""
    script = """
import os, warnings
from src.core.cli import run_command, command_parser

def command(_args):
    import huggingface_hub.constants
    from peft.utils.other import check_file_exists_on_hf_hub
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = check_file_exists_on_hf_hub("sentence-transformers/all-MiniLM-L6-v2", "config.json")
    print(os.environ["HF_HUB_OFFLINE"], huggingface_hub.constants.HF_HUB_OFFLINE, found, len(caught))

run_command(command, command_parser(None), [])
"""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: nothing answers
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "True", "None", "0"]
