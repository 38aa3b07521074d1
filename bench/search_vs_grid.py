"""Best validation score against training time spent, for studies of `python -m src.search`.

    python -m bench.search_vs_grid reports/search/grid/trials.csv reports/search/tpe/trials.csv \
        --out docs/figures/search_vs_grid.png

Each trials.csv is the one the search's report writes. The x axis is the running sum of the
trials' `train_time_s` in trial order (what a study spent), the y axis the best objective value
so far; pruned trials add their time and no score. It prints each study's total and best.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def spent_and_best(trials: pd.DataFrame) -> pd.DataFrame:
    trials = trials.sort_values("trial")
    spent = trials["train_time_s"].fillna(0).cumsum()
    best = trials["value"].where(trials["state"] == "complete").cummax().ffill()
    return pd.DataFrame({"spent": spent, "best": best, "state": trials["state"]})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trials", nargs="+", type=Path, help="trials.csv of each study")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args(argv)

    fig, ax = plt.subplots(figsize=(7, 4))
    for path in args.trials:
        name = path.parent.name
        curve = spent_and_best(pd.read_csv(path))
        ax.step(curve["spent"], curve["best"], where="post", label=name)
        pruned = curve[curve["state"] == "pruned"]
        ax.plot(pruned["spent"], pruned["best"], "x", color="grey")
        print(
            f"{name}: {len(curve)} trials, {curve['spent'].iloc[-1]:.1f} s of training, best {curve['best'].max():.4f}"
        )
    ax.set_xlabel("training time spent, s (sum over trials)")
    ax.set_ylabel("best validation score so far")
    ax.set_title("Search against grid: best score for the time spent (x: a pruned trial)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
