"""Training the top layers on stored outputs of the frozen ones (src/model/frozen_prefix.py).

Tiny randomly initialised models of every family go through the real `train_model`. With
dropout off, training with the stored outputs must end at the same weights as training that runs
every layer at every step: the shortcut changes the cost, not the result.
"""

from dataclasses import replace

import pandas as pd
import pytest
import torch

from src.model.finetuned import adapt
from src.model.frozen_prefix import frozen_layers
from src.model.pretrained import load_classifier
from src.model.trainer import train_model
from tests.test_methods import LABELS, tiny_params


@pytest.fixture(scope="module")
def few_rows(emotion_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.read_json(emotion_dir / "train.jsonl", lines=True)
    return rows.iloc[:16][["text", "label"]], rows.iloc[16:24][["text", "label"]]


def adapted(model_dir, method, **section):
    params = tiny_params(model_dir, method, **section)
    classifier = load_classifier(params.model, LABELS)
    return adapt(classifier, method, params.method, params.model.name)


@pytest.mark.parametrize(
    "method, section, expected",
    [
        ("lora", {}, 0),  # adapters in every layer
        ("lora", {"top_layers": 1}, 1),  # the bottom one of two layers has nothing to train
        ("lora", {"top_layers": 2}, 0),
        ("head_only", {}, 2),
        ("prompt_tuning", {}, 0),  # the prompt enters below the first layer
        ("full", {}, 0),
    ],
)
def test_frozen_layers_are_those_below_every_trainable_weight(method, section, expected, tiny_model_dirs):
    assert frozen_layers(adapted(tiny_model_dirs["bert"], method, **section)) == expected


def test_top_layers_beyond_the_model_is_a_clear_error(tiny_model_dirs):
    from src.core.errors import ParamsError

    with pytest.raises(ParamsError, match="lora.top_layers is 3, but the model has 2 layers"):
        adapted(tiny_model_dirs["bert"], "lora", top_layers=3)


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "mpnet", "gpt2"])
def test_stored_outputs_train_to_the_same_weights_as_running_every_layer(family, tiny_model_dirs, few_rows, tmp_path):
    train, validation = few_rows
    trained = {}
    for cache in (False, True):
        # Every dropout off, the model's own (train.model_dropout) and LoRA's: any mask left
        # would be drawn in one path and not the other.
        params = tiny_params(tiny_model_dirs[family], "lora", top_layers=1, dropout=0.0)
        params = replace(params, train=replace(params.train, cache_frozen_layers=cache, model_dropout=0.0))
        result = train_model(
            params,
            LABELS,
            train,
            validation,
            log_dir=tmp_path / f"live-{cache}",
            checkpoint_root=tmp_path / f"ckpt-{cache}",
        )
        trained[cache] = {name: p.detach().clone() for name, p in result.model.named_parameters() if p.requires_grad}
        used = result.efficiency["cached_frozen_layers"]
        assert used == (1 if cache else 0), f"{family}: cached_frozen_layers {used}"
    assert trained[True].keys() == trained[False].keys()
    for name, weight in trained[False].items():
        torch.testing.assert_close(trained[True][name], weight, atol=1e-5, rtol=1e-4, msg=f"{family}: {name}")
