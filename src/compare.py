"""Compare the methods of finished experiments: a markdown table and a plot.

Reads `dvc exp show --json` (every experiment of every commit), keeps those that finished the
evaluate stage, and prints one row per experiment: method, test accuracy (subset accuracy for
multi-label runs) and macro-F1,
trainable parameters, size on disk, training time and peak memory. Draws test accuracy against
trainable parameters on a log scale, one point per experiment.

    dvc exp run --queue -S peft.method=head_only,lora,full && dvc queue start
    python -m src.compare --plot docs/figures/methods.png
    python -m src.compare fluid-kite broad-moss     # only these experiments
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from src.core.cli import command_parser, run_command
from src.core.errors import DataError
from src.model.methods import METHODS
from src.presentation.figures import plot_accuracy_vs_trainable
from src.presentation.markdown import markdown_table


def experiments_from_dvc() -> list[dict]:
    output = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--all-commits", "--json"], capture_output=True, text=True
    )
    if output.returncode:
        raise DataError(f"`dvc exp show` failed: {output.stderr.strip()[-500:]}")
    return json.loads(output.stdout)


def finished_runs(shown: list[dict]) -> list[dict]:
    """One dict per experiment that has training and fine-tuned metrics, oldest first."""
    runs = []
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            rev = experiment["revs"][0]
            data = rev.get("data") or {}
            metrics = {name: entry.get("data", {}) for name, entry in (data.get("metrics") or {}).items()}
            train, tuned = metrics.get("metrics/train.json"), metrics.get("metrics/finetuned.json")
            if not train or not tuned or "method" not in train:
                continue
            params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
            runs.append(
                {
                    "name": rev.get("name") or rev.get("rev", "")[:7],
                    "method": train["method"],
                    "learning_rate": (params.get(train["method"]) or {}).get("learning_rate"),
                    "label": METHODS[train["method"]].title,
                    # Multi-label runs have no accuracy; subset accuracy (every label right) stands in.
                    "accuracy": tuned.get("accuracy", tuned.get("subset_accuracy")),
                    "macro_f1": tuned["macro_f1"],
                    "trainable": train["parameters"]["trainable"],
                    "trainable_percent": train["parameters"]["trainable_percent"],
                    "size_mb": train["artefact_size_mb"],
                    "train_time_s": train["train_time_s"],
                    "peak_rss_mb": train["peak_rss_mb"],
                    "baseline_accuracy": (lambda base: base.get("accuracy", base.get("subset_accuracy")))(
                        metrics.get("metrics/baseline.json") or {}
                    ),
                    "timestamp": data.get("timestamp") or "",
                }
            )
    return sorted(runs, key=lambda run: run["timestamp"])


def runs_table(runs: list[dict]) -> str:
    return markdown_table(
        [
            "Experiment",
            "Method",
            "Learning rate",
            "Accuracy",
            "Macro-F1",
            "Trainable",
            "Trainable %",
            "Saved MB",
            "Train time",
            "Peak RSS",
        ],
        [
            [
                run["name"],
                run["label"],
                f"{run['learning_rate']:g}" if run["learning_rate"] is not None else "-",
                f"{run['accuracy']:.4f}",
                f"{run['macro_f1']:.4f}",
                f"{run['trainable']:,}",
                f"{run['trainable_percent']:.3f}",
                f"{run['size_mb']:.2f}",
                f"{run['train_time_s']:.0f} s",
                f"{run['peak_rss_mb']:,.0f} MB",
            ]
            for run in sorted(runs, key=lambda run: run["trainable"])
        ],
        align="llrrrrrrrr",
    )


def compare(args: argparse.Namespace) -> None:
    runs = finished_runs(experiments_from_dvc())
    if args.names:
        unknown = sorted(set(args.names) - {run["name"] for run in runs})
        if unknown:
            raise DataError(f"No finished experiment named {', '.join(unknown)}; see `dvc exp show` for the names.")
        runs = [run for run in runs if run["name"] in args.names]
    if not runs:
        raise DataError(
            "No finished experiment with training metrics; run some first, for example "
            "`dvc exp run --queue -S peft.method=head_only,lora,full && dvc queue start`."
        )
    print(runs_table(runs))
    if args.plot:
        plot_accuracy_vs_trainable(runs, args.plot)
        print(f"\nwrote {args.plot}", file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    parser = command_parser(__doc__)
    parser.add_argument("names", nargs="*", help="experiment names to compare (default: every finished one)")
    parser.add_argument("--plot", type=Path, help="also draw accuracy against trainable parameters to this PNG")
    return parser


def main(argv=None) -> None:
    run_command(compare, parser(), argv)


if __name__ == "__main__":
    main()
