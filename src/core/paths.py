"""Every file and folder the pipeline reads or writes, defined once.

dvc.yaml names the same paths; tests/test_dvc_yaml.py keeps the two in step.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = PROJECT_ROOT / "params.yaml"

SPLITS = ("train", "validation", "test")
# The evaluations of the test split: the untuned model, TF-IDF + logistic regression, and the fine-tuned one.
EVALUATIONS = ("baseline", "classical", "finetuned")

PREPARED_DIR = PROJECT_ROOT / "data" / "prepared"
PREDICTIONS_DIR = PROJECT_ROOT / "data" / "predictions"

# The trained result of the chosen method: an adapter, a head, or a whole model (src/model/finetuned.py).
FINETUNED_DIR = PROJECT_ROOT / "models" / "finetuned"
# Where `python -m src.export` writes the merged standalone model.
EXPORT_DIR = PROJECT_ROOT / "models" / "merged"
# Where `python -m src.export --adapter` writes the adapter with its model card.
ADAPTER_EXPORT_DIR = PROJECT_ROOT / "models" / "adapter"
# Where `python -m src.export --onnx` writes the ONNX models (fp32 and int8) that predict and serve run.
ONNX_DIR = PROJECT_ROOT / "models" / "onnx"

# Per-epoch checkpoints of an unfinished training run, outside every stage's outputs (src/model/checkpoints.py).
CHECKPOINTS_DIR = PROJECT_ROOT / "checkpoints"

METRICS_DIR = PROJECT_ROOT / "metrics"
DATA_SUMMARY_FILE = METRICS_DIR / "data.json"
TRAIN_METRICS_FILE = METRICS_DIR / "train.json"
SIGNIFICANCE_FILE = METRICS_DIR / "significance.json"

PLOTS_DIR = PROJECT_ROOT / "plots"
TRAINING_LOG_DIR = PLOTS_DIR / "training"
# Curves dvclive writes during training: metric name -> its .tsv (columns `step` and the value).
TRAINING_CURVE_FILES = {
    name: TRAINING_LOG_DIR / "plots" / "metrics" / f"{name}.tsv"
    for name in ("loss", "eval/loss", "eval/accuracy", "eval/macro_f1")
}

REPORT_DIR = PROJECT_ROOT / "reports"
REPORT_FILE = REPORT_DIR / "report.md"
FIGURES_DIR = REPORT_DIR / "figures"
# python -m src.search: per study, its report and figures, and (by default) its SQLite storage and
# the trials' logs, which .gitignore keeps out of git and so out of every trial's experiment.
SEARCH_DIR = REPORT_DIR / "search"


def prepared_split_file(split: str, prepared_dir: Path = PREPARED_DIR) -> Path:
    return prepared_dir / f"{split}.jsonl"


def prepared_labels_file(prepared_dir: Path = PREPARED_DIR) -> Path:
    return prepared_dir / "labels.json"


def evaluation_metrics_file(evaluation: str) -> Path:
    return METRICS_DIR / f"{evaluation}.json"


def confusion_file(evaluation: str) -> Path:
    return PLOTS_DIR / evaluation / "confusion.csv"


def calibration_file(evaluation: str) -> Path:
    """The reliability diagram's points: accuracy against mean confidence per confidence bin."""
    return PLOTS_DIR / evaluation / "calibration.csv"


def predictions_file(evaluation: str) -> Path:
    return PREDICTIONS_DIR / f"{evaluation}.csv"


def search_roots() -> list[Path]:
    """Folders that relative paths in params.yaml (datasets, mirrors, models) are read against.

    First this project; then, in a queued experiment, the repository that queued it:
    `dvc exp run --queue` runs each experiment in a copy under .dvc/tmp/exps/, where a sibling
    such as ../shared is not beside it, and DVC points DVC_ROOT at the original repository.
    """
    roots = [PROJECT_ROOT]
    dvc_root = os.environ.get("DVC_ROOT")
    if dvc_root and Path(dvc_root).resolve() != PROJECT_ROOT:
        roots.append(Path(dvc_root).resolve())
    return roots


def find_folder(path: str, roots: list[Path]) -> Path | None:
    """The first existing folder `path` names: as is if absolute, else under each root in turn."""
    as_path = Path(path).expanduser()
    candidates = [as_path] if as_path.is_absolute() else [root / as_path for root in roots]
    return next((candidate for candidate in candidates if candidate.is_dir()), None)


def portable_path(path: Path) -> str:
    """`path` relative to the nearest search root, so outputs name it alike in the workspace and
    in a queued experiment's copy."""
    return min((os.path.relpath(path, root) for root in search_roots()), key=len)
