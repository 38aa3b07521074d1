"""Speed benchmarks of the pipeline on this machine. docs/PERFORMANCE.md holds the figures.

    python -m bench.run                    # every section
    python -m bench.run --only train eval  # some sections: train, bf16, profile, eval, dvc

train  The train stage's own code (`train_model`) on the same rows, in fp32, as three variants:
       "v1", the train stage before the speed work (2 epochs of LoRA with dropout 0.1 on every
       layer, the model's own dropout on, no class weights); "default", params.yaml as it is; and
       full fine-tuning with the default's epochs and dropout. Wall time, seconds per epoch,
       samples/s (on the wall clock and on the training loop's), the ratios default/v1 and
       LoRA/full, and FLOP/s:
       the operations each variant actually ran (its own batches, validation included), counted
       by torch's FlopCounterMode in a separate untimed run, against this CPU's measured fp32
       matmul rate (and the bf16 one where the CPU has AMX or AVX-512 BF16).
bf16   The default LoRA and full fine-tuning, fp32 against bf16 autocast (`train.precision`),
       where the CPU multiplies bf16 (AMX or AVX-512 BF16); skipped elsewhere.
profile  Where a training step's time goes (torch.profiler, one epoch of 320 rows), for each of
       the three: matmul, attention, element-wise, optimizer, data loading, and the rest.
eval   Evaluation samples/s of `predict_proba` (length-sorted batches, inference_mode) against a
       plain loop over the texts in input order, on the test split.
dvc    In a throwaway copy of the project with the default params: a full `dvc repro`, a no-op
       `dvc repro`, and a LoRA-knob experiment `dvc exp run -S lora.alpha=...`.

Each measurement is repeated (`--repeats`, alternating variants) and the median is reported.
`--only` reruns some sections and keeps the others already in the file. Everything, with the machine (CPU model, avx2 / avx512f / avx512_bf16 / amx, measured matmul rates), goes to
bench/results.json. To see a CPU with AVX-512 or AMX as an AVX2-only one would run, set
ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from src.core.params import Params
from src.core.paths import PROJECT_ROOT
from src.data.sources import load_labelled_splits
from src.data.splits import stratified_sample
from src.model.devices import use_available_cores
from src.model.inference import predict_proba
from src.model.pretrained import load_classifier, load_tokenizer
from src.model.trainer import train_model

RESULTS_FILE = Path(__file__).with_name("results.json")
PROJECT_FILES = ["dvc.yaml", "params.yaml", "src", ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"]


def median_of(measure, repeats: int) -> float:
    return statistics.median(measure() for _ in range(repeats))


# --------------------------------------------------------------------------- train

# Today's train stage against the one before the speed work, and against full fine-tuning.
# "v1" is the train stage as it was: 2 epochs of LoRA with dropout 0.1 on every layer, each step
# running all six layers with the model's own dropout, unweighted loss (its batches: dynamic
# padding, grouped by length, as now).
TRAIN_VARIANTS = {
    "v1": {
        "lora.top_layers": None,
        "lora.dropout": 0.1,
        "train.cache_frozen_layers": False,
        "train.class_weights": "none",
        "train.model_dropout": None,
        "train.epochs": 2,
    },
    "default": {},
    "full fine-tuning": {"peft.method": "full"},
}


def with_overrides(params: Params, overrides: dict) -> Params:
    """`params` with dotted keys replaced: `lora.dropout`, `train.epochs`, `peft.method`."""
    for key, value in overrides.items():
        section_name, field = key.split(".")
        if section_name in params.methods:
            methods = dict(params.methods)
            methods[section_name] = replace(methods[section_name], **{field: value})
            params = replace(params, methods=methods)
        else:
            params = replace(params, **{section_name: replace(getattr(params, section_name), **{field: value})})
    return params


def timed_training(params: Params, label_names, train, validation) -> dict:
    """Wall time of `train_model` (tokenizing, any frozen-layer pass, training, validation)."""
    with tempfile.TemporaryDirectory() as log_dir:
        start = time.perf_counter()
        result = train_model(
            params, label_names, train, validation, log_dir=Path(log_dir), checkpoint_root=Path(log_dir) / "checkpoints"
        )
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "trainer_seconds": result.efficiency["train_time_s"]}


def counted_flops(params: Params, label_names, train, validation) -> float:
    """The floating-point operations `train_model` actually runs, counted by torch's
    FlopCounterMode (matmuls and attention, forward and backward), in a separate untimed run."""
    from torch.utils.flop_counter import FlopCounterMode

    with tempfile.TemporaryDirectory() as log_dir, FlopCounterMode(display=False) as counter:
        train_model(
            params, label_names, train, validation, log_dir=Path(log_dir), checkpoint_root=Path(log_dir) / "checkpoints"
        )
    return float(counter.get_total_flops())


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


def bench_train(params: Params, rows: int, repeats: int) -> dict:
    data = params.data
    dataset = load_labelled_splits(data)
    train = stratified_sample(dataset.splits["train"], rows, data.seed)
    validation = stratified_sample(dataset.splits["validation"], 64, data.seed, "validation")
    fp32 = with_overrides(params, {"train.precision": "fp32", "train.min_steps": 0})
    variants = {name: with_overrides(fp32, overrides) for name, overrides in TRAIN_VARIANTS.items()}
    epochs = {name: variant.train.epochs for name, variant in variants.items()}
    threads = use_available_cores()
    print(f"\n## Training: {rows} rows, epochs {epochs}, batch {params.train.batch_size}, fp32, {threads} threads")

    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            runs[name].append(timed_training(variant, dataset.label_names, train, validation))
    flops = {name: counted_flops(variant, dataset.label_names, train, validation) for name, variant in variants.items()}
    fast_bf16 = multiplies_bf16()
    peak = {"fp32": matmul_flops(torch.float32), "bf16": matmul_flops(torch.bfloat16) if fast_bf16 else float("nan")}

    figures = {}
    for name, measured in runs.items():
        seconds = statistics.median(run["seconds"] for run in measured)
        loop_seconds = statistics.median(run["trainer_seconds"] for run in measured)
        figures[name] = {
            "seconds": round(seconds, 2),
            "runs_s": [round(run["seconds"], 2) for run in measured],
            "epochs": epochs[name],
            "seconds_per_epoch": round(seconds / epochs[name], 2),
            "samples_per_second": round(rows * epochs[name] / seconds, 2),
            # The Trainer's own clock (its training loop with the per-epoch validation, and any
            # frozen-layer pass), without loading the model and tokenizing, which cost all alike.
            "loop_seconds": round(loop_seconds, 2),
            "loop_samples_per_second": round(rows * epochs[name] / loop_seconds, 2),
            "gflop": round(flops[name] / 1e9, 1),
            "gflop_per_second": round(flops[name] / seconds / 1e9, 2),
            "utilisation_fp32": round(flops[name] / seconds / peak["fp32"], 4),
            "utilisation_bf16": round(flops[name] / seconds / peak["bf16"], 4) if fast_bf16 else None,
        }
    v1, new, full = figures["v1"], figures["default"], figures["full fine-tuning"]
    print(
        "\n| Variant | wall s (median) | runs | s / epoch | samples/s (wall) | samples/s (training loop) "
        "| GFLOP done | GFLOP/s | of fp32 matmul |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, f in figures.items():
        print(
            f"| {name} | {f['seconds']:.1f} | {', '.join(f'{r:.1f}' for r in f['runs_s'])} | {f['seconds_per_epoch']:.1f} "
            f"| {f['samples_per_second']:.1f} | {f['loop_samples_per_second']:.1f} | {f['gflop']:.0f} "
            f"| {f['gflop_per_second']:.1f} "
            f"| {f['utilisation_fp32']:.0%} |"
        )
    ratios = {
        "default_time_vs_v1": round(new["seconds"] / v1["seconds"], 3),
        "default_samples_per_second_vs_full": round(new["samples_per_second"] / full["samples_per_second"], 3),
        "v1_samples_per_second_vs_full": round(v1["samples_per_second"] / full["samples_per_second"], 3),
        "default_loop_samples_per_second_vs_full": round(
            new["loop_samples_per_second"] / full["loop_samples_per_second"], 3
        ),
    }
    print(
        f"\nRATIO default / v1 wall time: {ratios['default_time_vs_v1']:.2f} (target <= 0.40)\n"
        f"RATIO default LoRA / full fine-tuning samples/s: {ratios['default_samples_per_second_vs_full']:.2f} "
        f"(target >= 1.3; v1: {ratios['v1_samples_per_second_vs_full']:.2f}); "
        f"on the training loop's clock: {ratios['default_loop_samples_per_second_vs_full']:.2f}\n"
        f"Measured matmul: {peak['fp32'] / 1e9:.1f} GFLOP/s fp32, {peak['bf16'] / 1e9:.1f} GFLOP/s bf16 (2048x2048)."
    )
    return {
        "rows": rows,
        "precision": "fp32",
        "threads": threads,
        # null, not NaN, where bf16 was not measured: NaN is not JSON
        "matmul_gflop_per_second": {
            kind: round(value / 1e9, 1) if fast_bf16 or kind == "fp32" else None for kind, value in peak.items()
        },
        "variants": figures,
        "ratios": ratios,
    }


def multiplies_bf16() -> bool:
    """AMX or AVX-512 BF16, not masked. Without them torch emulates bf16 matmul: a 2048 x 2048
    product takes minutes."""
    info = machine()
    return (info["amx"] or info["avx512_bf16"]) and not info["isa_overrides"]


def bench_bf16(params: Params, rows: int, repeats: int) -> dict:
    """The default LoRA and full fine-tuning in fp32 and in bf16 autocast, alternating, on the
    train section's rows: what `train.precision: bf16` buys on a CPU that multiplies bf16."""
    if not multiplies_bf16():
        print("\n## bf16 training: skipped, this CPU has neither AMX nor AVX-512 BF16 (or they are masked)")
        return {"skipped": "no AMX or AVX-512 BF16"}
    dataset = load_labelled_splits(params.data)
    train = stratified_sample(dataset.splits["train"], rows, params.data.seed)
    validation = stratified_sample(dataset.splits["validation"], 64, params.data.seed, "validation")
    base = with_overrides(params, {"train.min_steps": 0})
    variants = {
        f"{method} {precision}": with_overrides(base, {"peft.method": method, "train.precision": precision})
        for method in ("lora", "full")
        for precision in ("fp32", "bf16")
    }
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            runs[name].append(timed_training(variant, dataset.label_names, train, validation))
    figures = {
        name: {
            "seconds": round(statistics.median(run["seconds"] for run in measured), 2),
            "runs_s": [round(run["seconds"], 2) for run in measured],
            "loop_seconds": round(statistics.median(run["trainer_seconds"] for run in measured), 2),
        }
        for name, measured in runs.items()
    }
    print(f"\n## bf16 training: {rows} rows, 1 epoch, fp32 against bf16 autocast")
    print("| Variant | wall s (median) | runs | samples/s (wall) | samples/s (training loop) |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, f in figures.items():
        print(
            f"| {name} | {f['seconds']:.1f} | {', '.join(f'{r:.1f}' for r in f['runs_s'])} "
            f"| {rows / f['seconds']:.1f} | {rows / f['loop_seconds']:.1f} |"
        )
    speedups = {
        method: round(figures[f"{method} fp32"]["seconds"] / figures[f"{method} bf16"]["seconds"], 3)
        for method in ("lora", "full")
    }
    print(f"RATIO bf16 speed-up, wall: LoRA {speedups['lora']:.2f}x, full fine-tuning {speedups['full']:.2f}x")
    return {"rows": rows, "variants": figures, "bf16_speedup": speedups}


# --------------------------------------------------------------------------- profile

MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear"}
ATTENTION_PREFIXES = ("aten::_scaled_dot_product", "aten::scaled_dot_product", "aten::_softmax", "aten::softmax")


def step_breakdown(params: Params, label_names, train, validation) -> dict:
    """Where the time of a training step goes, from torch.profiler over one short epoch: matmul,
    attention, element-wise and normalisation kernels, the optimizer, data loading, and the rest
    (Python, the Trainer, autograd bookkeeping), as shares of the profiled wall time."""
    from torch.profiler import ProfilerActivity, profile

    with tempfile.TemporaryDirectory() as log_dir, profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        train_model(
            params, label_names, train, validation, log_dir=Path(log_dir), checkpoint_root=Path(log_dir) / "checkpoints"
        )
        wall_us = (time.perf_counter() - start) * 1e6
    shares = dict.fromkeys(["matmul", "attention", "element-wise", "optimizer", "data loading"], 0.0)
    for event in prof.key_averages():
        name = event.key
        if name.startswith("Optimizer.step"):
            shares["optimizer"] += event.cpu_time_total
        elif "DataLoader" in name and "__next__" in name:
            shares["data loading"] += event.cpu_time_total
        elif name.startswith("aten::_foreach"):
            continue  # inside the optimizer step, already counted
        elif name in MATMUL_OPS:
            shares["matmul"] += event.self_cpu_time_total
        elif name.startswith(ATTENTION_PREFIXES):
            shares["attention"] += event.self_cpu_time_total
        elif name.startswith("aten::"):
            shares["element-wise"] += event.self_cpu_time_total
    # The profiler runs on one thread's clock per op; shares are of the wall time.
    shares["python, Trainer and other"] = max(0.0, wall_us - sum(shares.values()))
    return {name: round(value / wall_us, 3) for name, value in shares.items()}


def bench_profile(params: Params, rows: int) -> dict:
    dataset = load_labelled_splits(params.data)
    train = stratified_sample(dataset.splits["train"], rows, params.data.seed)
    validation = stratified_sample(dataset.splits["validation"], 32, params.data.seed, "validation")
    one_epoch = with_overrides(params, {"train.precision": "fp32", "train.min_steps": 0, "train.epochs": 1})
    use_available_cores()
    breakdowns = {
        name: step_breakdown(
            with_overrides(one_epoch, {**TRAIN_VARIANTS[name], "train.epochs": 1}),
            dataset.label_names,
            train,
            validation,
        )
        for name in TRAIN_VARIANTS
    }
    print(f"\n## Where a training step's time goes: {rows} rows, 1 epoch, fp32 (torch.profiler)")
    print("| Share of wall time | " + " | ".join(breakdowns) + " |\n| --- | " + "---: | " * len(breakdowns))
    for category in breakdowns["v1"]:
        print(f"| {category} | " + " | ".join(f"{b[category]:.0%}" for b in breakdowns.values()) + " |")
    return {"rows": rows, "shares": breakdowns}


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


def bench_eval(params: Params, repeats: int) -> dict:
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
    return {
        "plain_loop_samples_per_second": round(statistics.median(plain), 1),
        "predict_proba_samples_per_second": round(statistics.median(ours_rate), 1),
    }


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


def bench_dvc(repeats: int) -> dict:
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
    return {
        "full_repro_s": round(full, 1),
        "noop_repro_s": round(noop, 2),
        "lora_experiment": change,
        "lora_experiment_s": round(experiment, 1),
        "lora_experiment_vs_full": round(experiment / full, 3),
    }


# --------------------------------------------------------------------------- machine


def machine() -> dict:
    """The CPU and what it can do: the model name and the instruction sets that set torch's speed."""
    flags, model = set(), platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "amx": any(flag.startswith("amx") for flag in flags),
        "avx512_bf16": "avx512_bf16" in flags,
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "isa_overrides": {
            key: os.environ[key]
            for key in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
            if key in os.environ
        },
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["train", "bf16", "profile", "eval", "dvc"],
        default=["train", "bf16", "profile", "eval", "dvc"],
    )
    parser.add_argument("--rows", type=int, default=1024, help="training rows per training run (default 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant; the median is reported (default 3)")
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS_FILE,
        help=f"where to write the figures (default {RESULTS_FILE.relative_to(PROJECT_ROOT)})",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    params = Params.load()
    # A partial run (--only) replaces its own sections of an existing file and keeps the rest.
    everything = set(args.only) == {"train", "bf16", "profile", "eval", "dvc"}
    results = {} if everything or not args.json.exists() else json.loads(args.json.read_text(encoding="utf-8"))
    results["machine"] = machine()
    print(json.dumps(results["machine"]))
    if "train" in args.only:
        results["train"] = bench_train(params, args.rows, args.repeats)
    if "bf16" in args.only:
        results["bf16"] = bench_bf16(params, args.rows, args.repeats)
    if "profile" in args.only:
        results["profile"] = bench_profile(params, 320)
    if "eval" in args.only:
        results["eval"] = bench_eval(params, args.repeats)
    if "dvc" in args.only:
        results["dvc"] = bench_dvc(args.repeats)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
