"""dvc.yaml against the code: the paths it names exist in src/paths.py, and each stage lists
only the params it reads, so a change to one section reruns only the stages that read it."""

import yaml

from src import paths
from src.params import METHODS
from src.paths import PROJECT_ROOT

DVC_YAML = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
STAGES = DVC_YAML["stages"]


def out_paths(stage: str) -> set[str]:
    return {next(iter(out)) if isinstance(out, dict) else out for out in STAGES[stage]["outs"]}


def relative(path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def test_stages_run_in_pipeline_order():
    assert list(STAGES) == ["prepare", "baseline", "classical", "train", "evaluate", "report"]
    for name, stage in STAGES.items():
        assert stage["cmd"] == f"python -m src.{name}"
        assert f"src/{name}.py" in stage["deps"]


def test_outputs_are_the_paths_the_code_writes():
    assert {relative(paths.PREPARED_DIR), relative(paths.DATA_SUMMARY_FILE)} == out_paths("prepare")
    assert {relative(paths.FINETUNED_DIR), relative(paths.TRAIN_METRICS_FILE), relative(paths.TRAINING_LOG_DIR)} == out_paths("train")
    for stage, evaluation in (("baseline", "baseline"), ("classical", "classical"), ("evaluate", "finetuned")):
        expected = {paths.evaluation_metrics_file(evaluation), paths.confusion_file(evaluation), paths.predictions_file(evaluation)}
        assert {relative(p) for p in expected} == out_paths(stage)
    assert {relative(paths.REPORT_DIR), relative(paths.SIGNIFICANCE_FILE)} == out_paths("report")
    assert {relative(paths.evaluation_metrics_file(e)) for e in paths.EVALUATIONS} <= set(DVC_YAML["metrics"])


def test_every_listed_param_exists():
    for name, stage in STAGES.items():
        for key in stage.get("params", []):
            key = key.replace("${peft.method}", PARAMS["peft"]["method"])
            node = PARAMS
            for part in key.split("."):
                assert part in node, f"stage {name} lists params key {key!r}, which params.yaml lacks"
                node = node[part]


def test_method_and_train_changes_rerun_neither_prepare_nor_baseline():
    for stage in ("prepare", "baseline", "classical"):
        sections = {key.split(".")[0] for key in STAGES[stage]["params"]}
        assert not sections & {*METHODS, "peft", "train"}, stage
    assert {"peft.method", "${peft.method}", "train"} <= set(STAGES["train"]["params"])


def test_train_reads_only_the_chosen_methods_section():
    """An ia3 knob must not rerun a lora run: no stage names a method section outright."""
    for name, stage in STAGES.items():
        assert not {key.split(".")[0] for key in stage.get("params", [])} & set(METHODS), name
