"""A training run that collapses to one class is reported, not passed off as a result.

The real stages run on a shrunken copy of the project, with a learning rate far too high for
its 48 emotion tweets; the train stage must finish, say so in its log and metrics/train.json,
and the report must open with the warning.
"""

import json

import yaml

from tests.conftest import copy_shrunken_project, run_stage

STAGES = ["prepare", "baseline", "classical", "train", "evaluate", "report"]


def test_a_collapse_forced_by_a_huge_rate_is_flagged_in_log_metrics_and_report(tmp_path, emotion_dir):
    root = copy_shrunken_project(tmp_path, emotion_dir)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["lora"]["learning_rate"] = 50.0
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    logs = {}
    for stage in STAGES:
        result = run_stage(root, stage)
        assert result.returncode == 0, f"{stage}: {result.stderr[-3000:]}"
        logs[stage] = result.stderr

    assert "TRAINING COLLAPSED" in logs["train"] and "learning_rate" in logs["train"]
    collapse = json.loads((root / "metrics" / "train.json").read_text())["collapse"]
    assert collapse["collapsed"] is True
    assert collapse["top_class_share"] >= 0.95
    report = (root / "reports" / "report.md").read_text()
    first_paragraphs = report.split("\n\n")[:3]
    assert any("**Warning: training collapsed.**" in paragraph for paragraph in first_paragraphs), report[:1500]
