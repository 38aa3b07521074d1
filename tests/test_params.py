import copy

import pytest
import yaml

from src.errors import ParamsError
from src.params import Params
from src.paths import PARAMS_FILE


@pytest.fixture
def raw_params() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def test_repository_params_load():
    params = Params.load()
    assert params.lora.r >= 1
    assert set(params.data.sample_size) == {"train", "validation", "test"}


def test_unknown_key_names_it_and_suggests_the_close_one(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["lora"]["alpah"] = raw["lora"].pop("alpha")
    with pytest.raises(ParamsError, match=r"unknown key 'lora.alpah'.*Did you mean 'lora.alpha'"):
        Params.from_dict(raw)


def test_unknown_section_is_an_error(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["trian"] = raw.pop("train")
    with pytest.raises(ParamsError, match=r"unknown key 'trian'.*'train'"):
        Params.from_dict(raw)


def test_missing_key_is_named(raw_params):
    raw = copy.deepcopy(raw_params)
    del raw["train"]["seed"]
    with pytest.raises(ParamsError, match=r"missing key\(s\) train.seed"):
        Params.from_dict(raw)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "all", True])
def test_sample_size_must_be_positive_int_or_null(raw_params, bad):
    raw = copy.deepcopy(raw_params)
    raw["data"]["sample_size"]["train"] = bad
    with pytest.raises(ParamsError, match="data.sample_size.train"):
        Params.from_dict(raw)
