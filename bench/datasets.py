"""Run the default pipeline on a suite of datasets and table how it did on each.

    python -m bench.datasets DIR                       # every entry of bench/suite.yaml found in DIR
    python -m bench.datasets DIR --only sms_spam imdb  # some of them
    python -m bench.datasets DIR --set lora.learning_rate=0.0005   # a recipe change, on all of them
    python -m bench.datasets DIR --suite my_suite.yaml --json results.json

Each dataset runs the real `dvc repro` in its own copy of the project under `--workdir` (kept
between runs, so a recipe change reruns only train, evaluate and report there), with params.yaml's
defaults plus the dataset's overrides from the suite file plus `--set`. The table gives the
untuned, TF-IDF + LR and fine-tuned test scores, McNemar's p of fine-tuned against TF-IDF + LR,
the verdict at 5%, the kept epoch's validation scores (where recipe choices are made), the
training time and whether training collapsed (metrics/train.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from src.core.paths import PROJECT_ROOT

SUITE_FILE = Path(__file__).with_name("suite.yaml")
PROJECT_FILES = ["dvc.yaml", "params.yaml", "src", ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]
ALPHA = 0.05


def parse_setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--set {text!r}: write it as section.key=value, e.g. lora.learning_rate=0.0005")
    return key, yaml.safe_load(value)


def set_dotted(params: dict, key: str, value: object) -> None:
    *sections, last = key.split(".")
    node = params
    for section in sections:
        if not isinstance(node.get(section), dict):
            raise SystemExit(f"{key}: params.yaml has no section {section!r} there")
        node = node[section]
    node[last] = value


def dataset_params(suite_dir: Path, name: str, overrides: dict, settings: list[tuple[str, object]]) -> dict:
    """params.yaml for one dataset: the defaults, the suite's overrides, then --set."""
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["dataset"] = str(suite_dir / name)
    # The copy lives elsewhere: mirrors relative to the project must still find their data.
    params["data"]["mirrors"] = [str((PROJECT_ROOT / mirror).resolve()) for mirror in params["data"]["mirrors"]]
    for key, value in [*overrides.items(), *settings]:
        if key == "data.dataset" and (suite_dir / value).exists():
            value = str(suite_dir / value)  # a folder of the suite; otherwise a Hub id or a path as given
        set_dotted(params, key, value)
    return params


def refresh_project(project: Path) -> None:
    """The project's pipeline files copied into `project`, which becomes a git repo the first time."""
    for name in PROJECT_FILES:
        source, target = PROJECT_ROOT / name, project / name
        if target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    if not (project / ".git").exists():
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        subprocess.run([*git, "add", "-A"], cwd=project, check=True)
        subprocess.run([*git, "commit", "-qm", "suite project"], cwd=project, check=True)


def run_pipeline(project: Path, params: dict) -> tuple[int, float]:
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    with open(project / "repro.log", "w", encoding="utf-8") as log:
        result = subprocess.run(
            [sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return result.returncode, time.perf_counter() - start


def read_metrics(project: Path) -> dict:
    metrics = project / "metrics"
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in metrics.glob("*.json")}


def summarize(name: str, metrics: dict, seconds: float) -> dict:
    data, train = metrics["data"], metrics["train"]
    significance = metrics["significance"]
    # Multi-label runs (docs/MULTILABEL.md) have a paired permutation test of per-row F1 for
    # McNemar's, and micro-F1 where single-label runs have accuracy.
    multi = "paired" in significance
    test = significance["paired" if multi else "mcnemar"]["finetuned_vs_classical"]
    tuned, classical = metrics["finetuned"], metrics["classical"]
    better = test["difference"] > 0 if multi else test["a_only_right"] > test["b_only_right"]
    keys = ("micro_f1", "macro_f1") if multi else ("accuracy", "macro_f1")
    if test["p_value"] >= ALPHA:
        verdict = "no significant difference"
    else:
        verdict = "fine-tuned better" if better else "TF-IDF better"
    return {
        "dataset": name,
        "classes": len(data["train"]["classes"]),
        "rows": {split: data[split]["rows"] for split in ("train", "validation", "test")},
        "truncated_test_share": round(data["test"]["truncated"] / data["test"]["rows"], 4),
        "task": "multi_label" if multi else "single_label",
        "untuned": [metrics["baseline"][key] for key in keys],
        "tfidf": [classical[key] for key in keys],
        "finetuned": [tuned[key] for key in keys],
        # the kept epoch's validation scores: recipe choices are made on these, never on test
        "validation": [train["validation"][key] for key in ("accuracy", "macro_f1")],
        "p_vs_tfidf": test["p_value"],
        "verdict": verdict,
        "epochs": train.get("epochs_run"),
        "optimizer_steps": train.get("optimizer_steps"),
        "train_time_s": train["train_time_s"],
        "repro_s": round(seconds, 1),
        "collapsed": train.get("collapse", {}).get("collapsed"),
    }


def markdown(rows: list[dict]) -> str:
    header = (
        "| Dataset | Classes | Train / test rows | Untuned acc / F1 | TF-IDF + LR acc / F1 | Fine-tuned acc / F1 "
        "| p vs TF-IDF | Verdict | Validation acc / F1 | Epochs (steps) | Train s | Collapsed |"
    )
    lines = [header, "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | :--- | ---: | ---: | ---: | :--- |"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['dataset']} | {row['error']} |" + " |" * 10)
            continue

        def pair(scores):
            return f"{scores[0]:.4f} / {scores[1]:.4f}"

        # Multi-label rows: micro-F1 where the header says acc (subset accuracy for validation).
        dataset = row["dataset"] + (" (multi-label: micro-F1 / macro-F1)" if row["task"] == "multi_label" else "")
        lines.append(
            f"| {dataset} | {row['classes']} | {row['rows']['train']:,} / {row['rows']['test']:,} "
            f"| {pair(row['untuned'])} | {pair(row['tfidf'])} | {pair(row['finetuned'])} "
            f"| {row['p_vs_tfidf']:.3g} | {row['verdict']} | {pair(row['validation'])} "
            f"| {row['epochs']} ({row['optimizer_steps']}) "
            f"| {row['train_time_s']:.0f} | {'**yes**' if row['collapsed'] else 'no'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite_dir", type=Path, help="folder with one subfolder per dataset")
    parser.add_argument("--suite", type=Path, default=SUITE_FILE, help="dataset names and their overrides")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these datasets of the suite")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", type=parse_setting)
    parser.add_argument("--workdir", type=Path, help="where the per-dataset projects live (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)

    suite = yaml.safe_load(args.suite.read_text(encoding="utf-8")) or {}
    names = args.only or list(suite)
    unknown = [name for name in names if name not in suite]
    missing = [
        name
        for name in names
        if name in suite and "data.dataset" not in (suite[name] or {}) and not (args.suite_dir / name).exists()
    ]
    if unknown or missing:
        raise SystemExit(
            (f"not in {args.suite}: {', '.join(unknown)}. " if unknown else "")
            + (f"not in {args.suite_dir}: {', '.join(missing)}; see docs/DATASETS.md to build them." if missing else "")
        )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="loraflow-suite-"))
    suite_dir = args.suite_dir.resolve()
    rows = []
    for name in names:
        project = workdir / name
        refresh_project(project)
        params = dataset_params(suite_dir, name, suite[name] or {}, args.settings)
        print(f"{name}: dvc repro in {project} ...", flush=True)
        code, seconds = run_pipeline(project, params)
        if code != 0:
            print(f"{name}: dvc repro failed ({code}); see {project / 'repro.log'}", flush=True)
            rows.append({"dataset": name, "error": f"dvc repro failed, see {project / 'repro.log'}"})
            continue
        rows.append(summarize(name, read_metrics(project), seconds))
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
