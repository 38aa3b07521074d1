"""What a study found: reports/search/<study>/report.md with its trials table, the best trial and
how to apply it, parameter importances and the optimisation history (PNG figures beside it)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from src.core.files import atomic_file  # noqa: E402
from src.presentation.markdown import markdown_table  # noqa: E402
from src.search.space import override  # noqa: E402

log = logging.getLogger("search")

STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, experiment, params, objective, epochs and training time."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        rows.append(
            {
                "trial": trial.number,
                "state": STATE_NAMES.get(trial.state, trial.state.name.lower()),
                "experiment": attrs.get("experiment", ""),
                **trial.params,
                "value": trial.value if trial.state == TrialState.COMPLETE else None,
                "epochs_run": attrs.get("epochs_run"),
                "train_time_s": attrs.get("train_time_s"),
                "retry_of": trial.system_attrs.get("failed_trial"),
            }
        )
    return pd.DataFrame(rows)


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances over the complete trials; empty where there are too few to say."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or not study.best_trial.params:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as error:  # e.g. every complete trial has the same params
        log.info("search: no parameter importances (%s)", error)
        return {}


def plot_history(table: pd.DataFrame, objective: str, maximize: bool, path: Path) -> None:
    """Each trial's validation score in order, the best so far as a step line, pruned trials hollow."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    complete = table[table["state"] == "complete"]
    ax.plot(complete["trial"], complete["value"], "o", label="complete")
    pruned = table[table["state"] == "pruned"]
    if len(pruned):
        ax.plot(pruned["trial"], [ax.get_ylim()[0]] * len(pruned), "x", color="grey", label="pruned (score not final)")
    if len(complete):
        best = complete["value"].cummax() if maximize else complete["value"].cummin()
        ax.step(complete["trial"], best, where="post", color="C1", label="best so far")
    ax.set(xlabel="trial", ylabel=f"validation {objective}", title="Optimisation history")
    ax.legend(loc="lower right" if maximize else "upper right")
    _save(fig, path)


def plot_importances(found: dict[str, float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * max(1, len(found))))
    names = list(found)[::-1]
    ax.barh(names, [found[name] for name in names], color="C0")
    ax.set(xlabel="share of the score's variance (fANOVA)", title="Parameter importances", xlim=(0, 1))
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _number(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _test_line(attrs: dict) -> list[str]:
    if attrs.get("test_accuracy") is None:
        return []
    return [
        f"Its test accuracy {attrs['test_accuracy']:.4f}, macro-F1 {attrs['test_macro_f1']:.4f} "
        "(recorded with the experiment; the study never sees a test score)."
    ]


def write_report(study: optuna.Study, objective: str, fixed: dict, folder: Path) -> Path:
    """reports/search/<study>/report.md, trials.csv, history.png and importances.png."""
    folder.mkdir(parents=True, exist_ok=True)
    table = trials_table(study)
    table.to_csv(folder / "trials.csv", index=False)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    counts = table["state"].value_counts().to_dict() if len(table) else {}
    lines = [
        f"# Search `{study.study_name}`",
        "",
        f"{len(table)} trials: " + ", ".join(f"{n} {state}" for state, n in counts.items()) + ". "
        f"Objective: validation {objective} of the epoch kept ({'maximised' if maximize else 'minimised'}). "
        f"Set on every trial: {', '.join(f'`{k}={v}`' for k, v in fixed.items()) or 'nothing'}.",
        "",
    ]
    complete = table[table["state"] == "complete"]
    if len(complete):
        best = study.best_trial
        sets = " ".join(f"-S '{override(k, v)}'" for k, v in {**fixed, **best.params}.items())
        lines += [
            "## Best trial",
            "",
            f"Trial {best.number}, experiment `{best.user_attrs.get('experiment')}`: validation {objective} "
            f"**{best.value:.4f}**, " + ", ".join(f"`{k}` = {v}" for k, v in best.params.items()) + ".",
            *_test_line(best.user_attrs),
            "",
            "Apply it to the workspace and commit it, or rerun its params on the full data:",
            "",
            "```",
            f"dvc exp apply {best.user_attrs.get('experiment')}",
            f"dvc exp run {' '.join(f'-S {override(k, v)!r}' for k, v in best.params.items())}",
            "```",
            "",
            f"(Its trial ran with `{sets}`.)",
            "",
        ]
        plot_history(table, objective, maximize, folder / "history.png")
        lines += ["## Optimisation history", "", "![history](history.png)", ""]
    found = importances(study)
    if found:
        plot_importances(found, folder / "importances.png")
        lines += [
            "## Parameter importances",
            "",
            markdown_table(["Parameter", "Importance"], [[k, f"{v:.3f}"] for k, v in found.items()]),
            "",
            "![importances](importances.png)",
            "",
        ]
    if len(table):
        shown = table.drop(columns=["retry_of"]) if table["retry_of"].isna().all() else table
        lines += [
            "## Trials",
            "",
            "Pruned trials stopped after `epochs_run` epochs; their experiments hold the epoch kept by then.",
            "",
            markdown_table(list(shown.columns), [[_number(v) for v in row] for row in shown.itertuples(index=False)]),
            "",
        ]
    path = folder / "report.md"
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
