import copy

import pytest
import yaml

from src.core.errors import ParamsError
from src.core.params import Params
from src.core.paths import PARAMS_FILE


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


@pytest.mark.parametrize(
    ("key", "bad", "allowed"),
    [
        ("lora.r", 0, "use a whole number >= 1"),
        ("lora.r", 4.5, "use a whole number >= 1"),
        ("lora.alpha", 0, "use a number > 0"),
        ("lora.dropout", 1.0, "use a number >= 0 and < 1"),
        ("lora.dropout", -0.1, "use a number >= 0 and < 1"),
        ("lora.target_modules", "everything", "use auto or all-linear, or a non-empty list of module names"),
        ("lora.target_modules", [], "use auto or all-linear, or a non-empty list of module names"),
        ("ia3.target_modules", "all-linear", "use auto, or a non-empty list of module names"),
        ("train.epochs", 0, "use auto or a whole number >= 1"),
        ("train.cooldown", 1, "use a number > 0 and < 1"),
        ("train.model_dropout", "off", "use auto, null (the checkpoint's own) or a number >= 0 and < 1"),
        ("train.model_dropout", 1.0, "use auto, null (the checkpoint's own) or a number >= 0 and < 1"),
        ("lora.learning_rate", -0.001, "use a number > 0"),
        ("full.learning_rate", "fast", "use a number > 0"),
        (
            "peft.method",
            "lorra",
            "use one of lora, ia3, prompt_tuning, prefix_tuning, head_only, full (did you mean 'lora'?)",
        ),
        ("lora.use_dora", "yes", "use true or false"),
        ("prompt_tuning.num_virtual_tokens", 0, "use a whole number >= 1"),
        ("train.launcher", "mpirun", "use one of python, torchrun, accelerate"),
        ("train.warmup_ratio", 1.5, "use a number >= 0 and < 1"),
        ("train.precision", "bf61", "use one of auto, fp32, bf16, fp16 (did you mean 'bf16'?)"),
        ("eval.batch_size", None, "use a whole number >= 1"),
        ("model.max_length", 1, "use a whole number >= 2"),
        ("model.name", "", "use a non-empty string"),
        ("data.mirrors", "../shared/data", "use a list of non-empty strings"),
        ("classical.C", 0, "use a number > 0"),
        ("stats.confidence", 95, "use a number > 0 and < 1"),
        ("serve.backend", "onnx_int8", "use one of pytorch, onnx, onnx-int8 (did you mean 'onnx-int8'?)"),
        ("serve.max_texts", 0, "use a whole number >= 1"),
        ("serve.max_wait_ms", -1, "use a number >= 0"),
    ],
)
def test_bad_value_names_the_key_the_value_and_what_is_allowed(raw_params, key, bad, allowed):
    raw = copy.deepcopy(raw_params)
    section, name = key.split(".")
    raw[section][name] = bad
    with pytest.raises(ParamsError) as error:
        Params.from_dict(raw)
    assert str(error.value).startswith(f"params.yaml: {key} is {bad!r}; {allowed}")


@pytest.mark.parametrize("value", ["auto", None, 0, 0.1])
def test_model_dropout_takes_auto_null_or_a_probability(raw_params, value):
    raw = copy.deepcopy(raw_params)
    raw["train"]["model_dropout"] = value
    assert Params.from_dict(raw).train.model_dropout == value


def test_exponent_notation_that_yaml_reads_as_text_is_a_number(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["lora"]["learning_rate"] = yaml.safe_load("lr: 1e-3")["lr"]  # PyYAML gives the string '1e-3'
    assert Params.from_dict(raw).lora.learning_rate == 0.001


def test_a_list_of_target_modules_is_accepted(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["lora"]["target_modules"] = ["query", "value"]
    assert Params.from_dict(raw).lora.target_modules == ["query", "value"]


def test_a_section_that_is_not_a_mapping_is_named(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["lora"] = 8
    with pytest.raises(ParamsError, match="'lora' must be a mapping"):
        Params.from_dict(raw)


def test_stage_exits_1_with_the_message_and_writes_nothing(tmp_path, raw_params):
    """The real stage entry point, on a copy of the project with one bad value."""
    import shutil
    import subprocess
    import sys

    from src.core.paths import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    raw = copy.deepcopy(raw_params)
    raw["lora"]["alpah"] = raw["lora"].pop("alpha")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "__pycache__" not in p.parts)
    result = subprocess.run([sys.executable, "-m", "src.prepare"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: params.yaml: unknown key 'lora.alpah'. Did you mean 'lora.alpha'? "
        "Allowed keys here: lora.learning_rate, lora.r, lora.alpha, lora.dropout, lora.target_modules, "
        "lora.use_dora, lora.use_rslora, lora.top_layers."
    )
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "__pycache__" not in p.parts)
    assert after == before


def test_several_processes_need_a_launcher(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["train"]["processes"] = 2
    with pytest.raises(
        ParamsError,
        match=r"train.processes is 2, but train.launcher python runs one process; set train.launcher to torchrun or accelerate",
    ):
        Params.from_dict(raw)
    raw["train"]["launcher"] = "torchrun"
    assert Params.from_dict(raw).train.processes == 2


def test_method_section_follows_peft_method(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["peft"]["method"] = "full"
    params = Params.from_dict(raw)
    assert params.method is params.full and params.method.learning_rate == raw["full"]["learning_rate"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("encoding", "latin-9000", "Python does not know 'latin-9000'"),
        ("encoding", ["utf-8", "nope"], "Python does not know 'nope'"),
        ("delimiter", "@@", "use auto, one character such as ',' or '@', or tab"),
        ("format", "xml", "use one of auto, csv, tsv, jsonl, parquet, lines, folders"),
        ("header", "maybe", "use auto, true or false"),
        ("columns", ["text", "text"], "use a list of distinct column names, or null"),
    ],
)
def test_bad_read_params_are_named(raw_params, key, value, message):
    raw = copy.deepcopy(raw_params)
    raw["data"]["read"][key] = value
    with pytest.raises(ParamsError) as error:
        Params.from_dict(raw)
    assert str(error.value).startswith(f"params.yaml: data.read.{key} is {value!r}") and message in str(error.value)


@pytest.mark.parametrize(
    ("value", "read_as"), [("tab", "\t"), ("\\t", "\t"), ("\t", "\t"), ("@", "@"), ("auto", "auto")]
)
def test_a_delimiter_is_one_character_or_tab(raw_params, value, read_as):
    raw = copy.deepcopy(raw_params)
    raw["data"]["read"]["delimiter"] = value
    assert Params.from_dict(raw).data.read.delimiter == read_as


def test_data_splits_take_line_files_but_not_other_mappings(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["data"]["splits"] = {"train": {"text": "train_text.txt", "label": "train_labels.txt"}}
    assert Params.from_dict(raw).data.splits["train"]["label"] == "train_labels.txt"
    raw["data"]["splits"] = {"train": {"texts": "train_text.txt"}}
    with pytest.raises(
        ParamsError, match=r"parallel line files are named as \{text: <texts file>, label: <labels file>\}"
    ):
        Params.from_dict(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("data", "task", "multi", "use one of auto, single_label, multi_label"),
        ("data", "label_column", ["joy"], "a list of two or more distinct 0/1 columns"),
        ("data", "label_column", ["joy", "joy"], "a list of two or more distinct 0/1 columns"),
        ("data", "label_separator", ",,", "the one character between a row's labels"),
        ("data", "label_separator", "a", "the one character between a row's labels"),
        ("data", "label_names", ["joy", "joy"], "a list of distinct names in id order"),
        ("data", "label_names", 3, "use auto, null, a file of the dataset"),
    ],
)
def test_bad_multi_label_params_are_named(raw_params, section, key, value, message):
    raw = copy.deepcopy(raw_params)
    raw[section][key] = value
    with pytest.raises(ParamsError) as error:
        Params.from_dict(raw)
    assert str(error.value).startswith(f"params.yaml: {section}.{key} is {value!r}") and message in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tune", "global", "use one of per_label, none"),
        ("fallback", 1.0, "> 0 and < 1"),
        ("min_positives", 0, ">= 1"),
    ],
)
def test_bad_threshold_params_are_named(raw_params, key, value, message):
    raw = copy.deepcopy(raw_params)
    raw["eval"]["thresholds"][key] = value
    with pytest.raises(ParamsError, match=rf"params.yaml: eval.thresholds.{key} is .*{message}"):
        Params.from_dict(raw)


def test_zero_one_label_columns_and_a_names_list_are_accepted(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["data"].update(label_column=["anger", "joy"], label_names=["anger", "joy"], label_separator=";")
    data = Params.from_dict(raw).data
    assert data.label_column == ["anger", "joy"] and data.label_names == ["anger", "joy"]


def test_bad_export_and_serve_params_are_named(raw_params):
    raw = copy.deepcopy(raw_params)
    raw["export"]["onnx"]["int8_target"] = "avx3"
    with pytest.raises(ParamsError, match=r"export.onnx.int8_target is 'avx3'; use one of auto, avx512_vnni"):
        Params.from_dict(raw)
    raw = copy.deepcopy(raw_params)
    raw["serve"]["port"] = 70000
    with pytest.raises(ParamsError, match="serve.port is 70000; use a port from 1 to 65535"):
        Params.from_dict(raw)
