"""Speed benchmarks of the pipeline on this machine. docs/PERFORMANCE.md holds the figures.

    python -m bench.run                    # every section (about 15 minutes on 2 cores)
    python -m bench.run --only train eval  # some sections: train, eval, dvc

train  Training samples/s of the train stage's own code (`train_model`) against a seed-style
       reference on the same rows and model: the Trainer with every text padded to
       `model.max_length` (`padding="max_length"`), batches in random order, fp32. Two middle
       steps show what dynamic padding and length grouping each add. Also the training FLOP/s
       achieved, against this CPU's measured matmul FLOP/s.
eval   Evaluation samples/s of `predict_proba` (length-sorted batches, inference_mode) against a
       plain loop over the texts in input order, on the test split.
dvc    In a throwaway copy of the project with the default params: a full `dvc repro`, a no-op
       `dvc repro`, and `dvc exp run -S lora.alpha=32` (16 where 32 is the default).

Each measurement is repeated (`--repeats`, alternating variants) and the median is reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

from src.core.params import Params
from src.core.paths import PROJECT_ROOT
from src.data.sources import load_labelled_splits
from src.data.splits import stratified_sample
from src.model.devices import resolve_precision, use_available_cores
from src.model.finetuned import adapt
from src.model.inference import predict_proba
from src.model.pretrained import load_classifier, load_tokenizer
from src.model.trainer import train_model

PROJECT_FILES = ["dvc.yaml", "params.yaml", "src", ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]


def median_of(measure, repeats: int) -> float:
    return statistics.median(measure() for _ in range(repeats))


# --------------------------------------------------------------------------- train


def reference_samples_per_second(
    params: Params, label_names: list[str], train: pd.DataFrame, *, pad_to_max: bool, group_by_length: bool
) -> float:
    """One epoch of the Trainer as a notebook would set it up, with two switches, in fp32."""
    tokenizer = load_tokenizer(params.model)
    padding = "max_length" if pad_to_max else False
    encoded = Dataset.from_pandas(train[["text", "label"]], preserve_index=False).map(
        lambda batch: tokenizer(batch["text"], padding=padding, truncation=True, max_length=params.model.max_length),
        batched=True,
        remove_columns=["text"],
    )
    classifier = load_classifier(params.model, label_names)
    set_seed(params.train.seed)  # as train_model does: the same LoRA initialisation in every variant
    model = adapt(classifier, params.peft.method, params.method, params.model.name)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            num_train_epochs=1,
            learning_rate=params.method.learning_rate,
            per_device_train_batch_size=params.train.batch_size,
            train_sampling_strategy="group_by_length" if group_by_length else "random",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=False,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=encoded,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        return trainer.train().metrics["train_samples_per_second"]


def ours(params: Params, label_names: list[str], train: pd.DataFrame, validation: pd.DataFrame) -> tuple[float, float]:
    """(samples/s, FLOP/s) of the train stage's own code for one epoch."""
    with tempfile.TemporaryDirectory() as log_dir:
        result = train_model(params, label_names, train, validation, log_dir=Path(log_dir))
    seconds = result.efficiency["train_time_s"]
    return result.efficiency["train_samples_per_second"], result.total_flos / seconds


def matmul_flops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        times.append((time.perf_counter() - start) / 4)
    return 2 * size**3 / statistics.median(times)


def bench_train(params: Params, rows: int, repeats: int) -> None:
    data = params.data
    dataset = load_labelled_splits(data)
    train = stratified_sample(dataset.splits["train"], rows, data.seed)
    # Evaluation counts in train_runtime: keep it small, but with every class.
    validation = stratified_sample(dataset.splits["validation"], 32, data.seed, "validation")
    one_epoch = params_with(params, epochs=1)
    precision = resolve_precision(params.train.precision)
    threads = use_available_cores()
    print(f"\n## Training throughput: {rows} rows, 1 epoch, batch {params.train.batch_size}, {threads} threads")

    variants = {
        f"seed-style: padding='max_length' ({params.model.max_length} tokens), random order, fp32": dict(
            pad_to_max=True, group_by_length=False
        ),
        "+ dynamic padding (DataCollatorWithPadding), fp32": dict(pad_to_max=False, group_by_length=False),
        "+ batches grouped by length, fp32": dict(pad_to_max=False, group_by_length=True),
    }
    runs: dict[str, list[float]] = {name: [] for name in variants}
    ours_name = f"train stage (`train_model`): the above + {precision}"
    runs[ours_name] = []
    flops = []
    for _ in range(repeats):
        for name, switches in variants.items():
            runs[name].append(reference_samples_per_second(one_epoch, dataset.label_names, train, **switches))
        samples_per_second, flops_per_second = ours(one_epoch, dataset.label_names, train, validation)
        runs[ours_name].append(samples_per_second)
        flops.append(flops_per_second)

    reference = statistics.median(runs[next(iter(variants))])
    print("\n| Variant | samples/s (median) | runs | vs seed-style |\n| --- | ---: | --- | ---: |")
    for name, values in runs.items():
        print(
            f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} | {statistics.median(values) / reference:.2f}x |"
        )
    ratio = statistics.median(runs[ours_name]) / reference
    print(f"\nRATIO train stage / seed-style reference: {ratio:.2f}x (target >= 3x)")

    peak = {"fp32": matmul_flops(torch.float32), "bf16": matmul_flops(torch.bfloat16)}
    achieved = statistics.median(flops)
    limit = peak["bf16" if precision == "bf16" else "fp32"]
    print(
        f"\nMeasured matmul: {peak['fp32'] / 1e9:.1f} GFLOP/s fp32, {peak['bf16'] / 1e9:.1f} GFLOP/s bf16 (2048x2048).\n"
        f"Training achieved {achieved / 1e9:.1f} GFLOP/s (Trainer's count: 6 x non-embedding parameters x tokens) "
        f"= {achieved / limit:.1%} of the measured {precision} matmul rate."
    )


def params_with(params: Params, **train_overrides) -> Params:
    from dataclasses import replace

    return replace(params, train=replace(params.train, **train_overrides))


# --------------------------------------------------------------------------- eval


def plain_loop_samples_per_second(model, tokenizer, texts: list[str], batch_size: int, max_length: int) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            model(**batch)
    return len(texts) / (time.perf_counter() - start)


def bench_eval(params: Params, repeats: int) -> None:
    data = params.data
    dataset = load_labelled_splits(data)
    texts = dataset.splits["test"]["text"].tolist()
    use_available_cores()
    tokenizer = load_tokenizer(params.model)
    model = load_classifier(params.model, dataset.label_names).eval()
    batch, max_length = params.eval.batch_size, params.model.max_length

    def sorted_run() -> float:
        start = time.perf_counter()
        predict_proba(model, tokenizer, texts, batch, max_length, desc="eval bench")
        return len(texts) / (time.perf_counter() - start)

    plain, ours_rate = [], []
    for _ in range(repeats):
        plain.append(plain_loop_samples_per_second(model, tokenizer, texts, batch, max_length))
        ours_rate.append(sorted_run())
    print(f"\n## Evaluation throughput: {len(texts)} test rows, batch {batch}")
    print(f"plain loop (input order, no_grad): {statistics.median(plain):.0f} samples/s")
    print(
        f"predict_proba (length-sorted, inference_mode): {statistics.median(ours_rate):.0f} samples/s "
        f"({statistics.median(ours_rate) / statistics.median(plain):.2f}x)"
    )


# --------------------------------------------------------------------------- dvc


def timed(command: list[str], cwd: Path) -> float:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return elapsed


def alpha_change() -> int:
    """A LoRA alpha other than the default: 32 unless that is the default already."""
    return 16 if Params.load().lora.alpha == 32 else 32


def bench_dvc(repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="loraflow-bench-") as tmp:
        root = Path(tmp) / "project"
        for name in PROJECT_FILES:
            source, target = PROJECT_ROOT / name, root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
        # Relative mirrors (../shared/data) must still resolve from the copy.
        os.environ["DVC_ROOT"] = str(PROJECT_ROOT)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        timed(["git", "init", "-q"], root)
        timed([*git, "add", "-A"], root)
        timed([*git, "commit", "-qm", "bench"], root)
        dvc = [sys.executable, "-m", "dvc"]
        full = timed([*dvc, "repro"], root)
        timed([*git, "add", "-A"], root)
        timed([*git, "commit", "-qm", "repro"], root)
        noop = median_of(lambda: timed([*dvc, "repro"], root), repeats)
        change = f"lora.alpha={alpha_change()}"
        experiment = timed([*dvc, "exp", "run", "-S", change], root)
    print("\n## DVC on the default params (a throwaway copy of the project)")
    print(f"full `dvc repro` from a clean cache: {full:.0f} s")
    print(f"no-op `dvc repro` (median of {repeats}): {noop:.2f} s (target <= 5 s)")
    print(f"`dvc exp run -S {change}`: {experiment:.0f} s = {experiment / full:.0%} of the full repro")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=["train", "eval", "dvc"], default=["train", "eval", "dvc"])
    parser.add_argument("--rows", type=int, default=384, help="training rows per throughput run (default 384)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; the median is reported (default 3)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    params = Params.load()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, CUDA: {torch.cuda.is_available()}")
    if "train" in args.only:
        bench_train(params, args.rows, args.repeats)
    if "eval" in args.only:
        bench_eval(params, args.repeats)
    if "dvc" in args.only:
        bench_dvc(args.repeats)


if __name__ == "__main__":
    main()
