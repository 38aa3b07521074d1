"""dvc.yaml against the code, so that DVC's change detection cannot go stale:

- every file a stage's script imports (transitively) is covered by the stage's deps;
- every params key a stage's code reads is listed in the stage's `params:`;
- the paths dvc.yaml names are the ones src/core/paths.py defines.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from src.core import paths
from src.core.paths import PROJECT_ROOT
from src.model.methods import METHODS
from tests.conftest import copy_shrunken_project

DVC_YAML = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
STAGES = DVC_YAML["stages"]


# --------------------------------------------------------------------------- code deps


def module_file(module: str, root: Path = PROJECT_ROOT) -> Path | None:
    base = root / module.replace(".", "/")
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def project_imports(path: Path, root: Path = PROJECT_ROOT) -> set[Path]:
    """The project files `path` imports anywhere in it (function-level imports too), with the
    `__init__.py` of every package on the way, as Python runs them."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from src.core import paths` imports the module src.core.paths.
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            for depth in range(1, len(parts) + 1):
                file = module_file(".".join(parts[:depth]), root)
                if file is not None:
                    found.add(file)
    return found


def import_closure(module: str, root: Path = PROJECT_ROOT) -> set[str]:
    """Every project file that `python -m module` runs, relative to `root`."""
    start = module_file(module, root)
    todo, seen = [start, *project_imports(start, root)], set()
    todo += [module_file(".".join(module.split(".")[:depth]), root) for depth in range(1, module.count(".") + 1)]
    while todo:
        file = todo.pop()
        if file is None or file in seen:
            continue
        seen.add(file)
        todo += project_imports(file, root)
    return {file.relative_to(root).as_posix() for file in seen}


def uncovered(files: set[str], deps: list) -> list[str]:
    names = [dep if isinstance(dep, str) else next(iter(dep)) for dep in deps]
    return sorted(f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in names))


def stage_module(stage: dict) -> str:
    command = stage["cmd"].split()
    assert command[:2] == ["python", "-m"], stage["cmd"]
    return command[2]


@pytest.mark.parametrize("name", list(STAGES))
def test_every_file_a_stage_runs_is_a_dep(name):
    closure = import_closure(stage_module(STAGES[name]))
    assert f"src/{name}.py" in closure and "src/core/params.py" in closure
    missing = uncovered(closure, STAGES[name]["deps"])
    assert not missing, f"stage {name} runs {missing}, which its deps in dvc.yaml do not cover"


def test_the_closure_follows_function_level_imports(tmp_path):
    """The check itself: an import inside a function counts, and a dropped dep is caught."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "stage.py").write_text("def main():\n    from pkg.lib import helper\n")
    (tmp_path / "pkg" / "lib.py").write_text("from pkg import other\nhelper = 1\n")
    (tmp_path / "pkg" / "other.py").write_text("")
    closure = import_closure("pkg.stage", tmp_path)
    assert closure == {"pkg/__init__.py", "pkg/stage.py", "pkg/lib.py", "pkg/other.py"}
    assert uncovered(closure, ["pkg/stage.py", "pkg/lib.py", "pkg/__init__.py"]) == ["pkg/other.py"]
    assert uncovered(closure, ["pkg"]) == []


# --------------------------------------------------------------------------- params


def listed_params(stage: dict) -> set[str]:
    return {key.replace("${peft.method}", PARAMS["peft"]["method"]) for key in stage.get("params", [])}


def is_listed(key: str, listed: set[str]) -> bool:
    return any(key == item or key.startswith(item + ".") for item in listed)


@pytest.fixture(scope="module")
def read_keys(tmp_path_factory, emotion_dir) -> dict[str, list[str]]:
    """Run every stage, in pipeline order, on a shrunken copy of the project with `Params`
    recording the keys each one reads (tests/params_recorder.py)."""
    root = copy_shrunken_project(tmp_path_factory.mktemp("recorded"), emotion_dir)
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": f"{root}{os.pathsep}{PROJECT_ROOT}"}
    keys = {}
    for name, stage in STAGES.items():
        out = root / f"{name}.keys.json"
        command = [sys.executable, "-m", "tests.params_recorder", stage_module(stage), str(out)]
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"stage {name} failed:\n{result.stderr[-4000:]}"
        keys[name] = json.loads(out.read_text())
    return keys


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STAGES))
def test_every_params_key_a_stage_reads_is_listed(read_keys, name):
    assert read_keys[name], f"stage {name} read no params key: the recorder is not recording"
    unlisted = [key for key in read_keys[name] if not is_listed(key, listed_params(STAGES[name]))]
    assert not unlisted, f"stage {name} reads {unlisted}, which its params in dvc.yaml do not list"


def test_every_listed_param_exists():
    for name, stage in STAGES.items():
        for key in listed_params(stage):
            node = PARAMS
            for part in key.split("."):
                assert part in node, f"stage {name} lists params key {key!r}, which params.yaml lacks"
                node = node[part]


def test_method_and_train_changes_rerun_neither_prepare_nor_baseline():
    for stage in ("prepare", "baseline", "classical"):
        sections = {key.split(".")[0] for key in STAGES[stage]["params"]}
        assert not sections & {*METHODS, "peft", "train"}, stage
    assert {"peft.method", "${peft.method}", "train"} <= set(STAGES["train"]["params"])


def test_no_stage_names_a_method_section_outright():
    """An ia3 knob must not rerun a lora run: stages name the chosen section as ${peft.method}."""
    for name, stage in STAGES.items():
        assert not {key.split(".")[0] for key in stage.get("params", [])} & set(METHODS), name


# --------------------------------------------------------------------------- paths


def out_paths(stage: str) -> set[str]:
    return {next(iter(out)) if isinstance(out, dict) else out for out in STAGES[stage]["outs"]}


def relative(path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def test_stages_run_in_pipeline_order():
    assert list(STAGES) == ["prepare", "baseline", "classical", "train", "evaluate", "report"]
    for name, stage in STAGES.items():
        assert stage["cmd"] == f"python -m src.{name}"


def test_outputs_are_the_paths_the_code_writes():
    assert {relative(paths.PREPARED_DIR), relative(paths.DATA_SUMMARY_FILE)} == out_paths("prepare")
    assert {
        relative(paths.FINETUNED_DIR),
        relative(paths.TRAIN_METRICS_FILE),
        relative(paths.TRAINING_LOG_DIR),
    } == out_paths("train")
    for stage, evaluation in (("baseline", "baseline"), ("classical", "classical"), ("evaluate", "finetuned")):
        expected = {
            paths.evaluation_metrics_file(evaluation),
            paths.confusion_file(evaluation),
            paths.calibration_file(evaluation),
            paths.predictions_file(evaluation),
        }
        assert {relative(p) for p in expected} == out_paths(stage)
    assert {relative(paths.REPORT_DIR), relative(paths.SIGNIFICANCE_FILE)} == out_paths("report")
    assert {relative(paths.evaluation_metrics_file(e)) for e in paths.EVALUATIONS} <= set(DVC_YAML["metrics"])


def test_dvc_exp_show_leads_with_the_scores():
    """The first columns of `dvc exp show` are the fine-tuned model's scores; the data summary
    (origins and per-class counts: over 200 columns for 77 classes) comes after every score."""
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--no-pager", "--csv"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    header = result.stdout.splitlines()[0].split(",")
    assert header[header.index("parent") + 1] == "metrics/finetuned.json:accuracy"
    # DVC drops a column's file name where the key is unique: train.origin is metrics/data.json's.
    data_summary = header.index("train.origin")
    assert data_summary > header.index("mcnemar.finetuned_vs_classical.p_value")  # significance.json
    assert data_summary > header.index("temperature")  # train.json
