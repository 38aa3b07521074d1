"""Inference speed of the trained classifier: PyTorch eager fp32, ONNX fp32 and ONNX int8, offline
and behind `python -m src.serve`, on the prepared test texts. docs/PERFORMANCE.md holds the figures.

    python -m src.export --onnx && python -m bench.serving

Offline, each backend classifies every test text four times, one after the other:
  batch 1       one text per call, in input order, as a client sending single texts would;
  batched       `--batch-size` texts per call, sorted by length (as `src.predict` runs);
  token passes  sorted by length, in passes of at most serve.max_pass_tokens tokens (as the
                server runs a batch);
  as they arrive  `--concurrency` texts per pass in input order, mixed lengths (the batches a
                server gets from that many clients sending one text each).
For each: texts/s over the whole pass, p50 and p99 latency of a call, the test scores of the
batched pass with the share of predictions that differ from PyTorch's, and the test scores of the
batch-1 pass with how far its predictions are from the batched ones (int8 scales activations per
pass, so a text's int8 probabilities depend on the texts beside it).

Served: `python -m src.serve --backend <--serve-backend>` is started as a process on a free
localhost port, and `--requests` requests are sent, `--concurrency` at a time, by an aiohttp
client in this process (sharing the CPU with the server, as a local client does); once with one
text per request and once with several (`--texts-per-request`). Requests and texts per second,
p50 / p99 latency, failures, the mean batch the server formed, and texts/s as a share of the
same backend's offline batched figure.

Everything, with the machine (bench.run's `machine()`), goes to bench/results-serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.run import machine
from src.core.params import Params
from src.core.paths import FINETUNED_DIR, ONNX_DIR, PROJECT_ROOT
from src.data.prepared import read_prepared, text_inputs
from src.model.backends import agreement, headline_scores, load_backend

RESULTS = Path(__file__).with_name("results-serving.json")
WARMUP_CALLS = 20


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def offline(
    backend, texts: list[str], pairs, batch_size: int, pass_tokens: int, arrival: int
) -> tuple[dict, np.ndarray]:
    for text in texts[:WARMUP_CALLS]:
        backend.predict([text], None if pairs is None else [pairs[0]])
    results = {}
    # batch 1: one call per text, tokenizing included, as a client with one text would see it.
    calls, alone = [], []
    start = time.perf_counter()
    for i, text in enumerate(texts):
        began = time.perf_counter()
        alone.append(backend.predict([text], None if pairs is None else [pairs[i]]))
        calls.append(time.perf_counter() - began)
    results["batch_1"] = {"texts_per_s": round(len(texts) / (time.perf_counter() - start), 1), **percentiles(calls)}
    # batched: the whole list, length-sorted, `batch_size` at a time; latency per batch.
    encoded = backend.encode(texts, pairs)
    calls = []
    forward = backend.forward

    def timed(batch):
        began = time.perf_counter()
        out = forward(batch)
        calls.append(time.perf_counter() - began)
        return out

    backend.forward = timed
    start = time.perf_counter()
    probabilities = backend.probabilities(backend.logits(encoded, batch_size))
    wall = time.perf_counter() - start
    results["batched"] = {"batch_size": batch_size, "texts_per_s": round(len(texts) / wall, 1), **percentiles(calls)}
    # int8 activations are scaled per forward pass: a text's probabilities move with its batch-mates.
    alone = np.vstack(alone)
    results["batch_1"]["probabilities"] = alone
    results["batch_1"]["vs_batched"] = {
        "changed_share": float((backend.decide(alone) != backend.decide(probabilities)).mean()),
        "max_probability_difference": float(np.abs(alone - probabilities).max()),
    }
    # token passes: the whole list, length-sorted, in passes of at most `pass_tokens` tokens, as
    # the server runs a batch.
    calls.clear()
    start = time.perf_counter()
    backend.logits(encoded, len(texts), max_tokens=pass_tokens)
    wall = time.perf_counter() - start
    backend.forward = forward
    results["token_passes"] = {"max_pass_tokens": pass_tokens, "texts_per_s": round(len(texts) / wall, 1)}
    # as they arrive: `arrival` texts at a time in input order, one pass each (mixed lengths), as
    # the server's batches are when `arrival` clients send one text each.
    start = time.perf_counter()
    for first in range(0, len(texts), arrival):
        rows = range(first, min(first + arrival, len(texts)))
        batch = backend.tokenizer.pad(
            {key: [values[i] for i in rows] for key, values in encoded.items()}, return_tensors=backend.tensors
        )
        forward(batch)
    wall = time.perf_counter() - start
    results["as_they_arrive"] = {"batch_size": arrival, "texts_per_s": round(len(texts) / wall, 1)}
    return results, probabilities


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(backend: str, model_dir: Path | None, port: int, extra: list[str] = ()) -> subprocess.Popen:
    command = [sys.executable, "-m", "src.serve", "--backend", backend, "--port", str(port), *extra]
    if model_dir:
        command += ["--model-dir", str(model_dir)]
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_health(f"http://127.0.0.1:{port}", server)
    return server


def wait_for_health(url: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}):\n{server.stdout.read()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url}/health within {timeout_s:.0f} s")


async def load_test(url: str, texts: list[str], requests: int, concurrency: int, per_request: int) -> dict:
    """`requests` requests of `per_request` texts each, `concurrency` at a time, by aiohttp (a
    lighter client than httpx: it shares the CPU with the server)."""
    import aiohttp

    latencies, failures, next_request = [], [], iter(range(requests))

    async def client(http: aiohttp.ClientSession):
        for i in next_request:
            body = {"texts": [texts[(i * per_request + j) % len(texts)] for j in range(per_request)]}
            began = time.perf_counter()
            try:
                async with http.post(f"{url}/predict", json=body) as response:
                    answer = await response.read()
                    if response.status != 200:
                        failures.append(f"{response.status} {answer[:200]!r}")
            except aiohttp.ClientError as error:
                failures.append(repr(error))
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.get(f"{url}/health") as response:
            before = await response.json()
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - start
        async with http.get(f"{url}/health") as response:
            after = await response.json()
    batches = max(after["batches"] - before["batches"], 1)
    return {
        "requests": requests,
        "concurrency": concurrency,
        "texts_per_request": per_request,
        "failed": len(failures),
        "first_failures": failures[:3],
        "requests_per_s": round(requests / wall, 1),
        "texts_per_s": round(requests * per_request / wall, 1),
        **percentiles(latencies),
        "mean_batch_texts": round((after["texts"] - before["texts"]) / batches, 2),
        # the share of the wall time the server's model was computing; the rest went to HTTP, JSON,
        # tokenizing and the client, all on the same cores
        "model_busy_share": round((after["model_seconds"] - before["model_seconds"]) / wall, 3),
    }


async def health_rate(url: str, requests: int, concurrency: int) -> dict:
    """GET /health at the same concurrency: what the HTTP stack alone answers per second here."""
    import aiohttp

    pending = iter(range(requests))

    async def client(http):
        for _ in pending:
            async with http.get(f"{url}/health") as response:
                await response.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return {"requests": requests, "concurrency": concurrency, "requests_per_s": round(requests / wall, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=FINETUNED_DIR)
    parser.add_argument("--onnx-dir", type=Path, default=ONNX_DIR)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--texts", type=int, help="the first N test texts (default: all)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--texts-per-request",
        type=int,
        nargs="+",
        default=[1, 8, 32],
        help="one load test per value (default: 1, 8, 32)",
    )
    parser.add_argument("--serve-backend", default="onnx-int8")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve-args", nargs="*", default=[], help="more arguments of src.serve, e.g. --threads 1")
    args = parser.parse_args(argv)

    settings = Params.load().serve
    test = read_prepared("test")
    if args.texts:
        test = test.head(args.texts)
    texts, pairs = text_inputs(test)
    results = {"machine": machine(), "threads": len(os.sched_getaffinity(0)), "texts": len(texts), "offline": {}}
    reference = None
    for name in ("pytorch", "onnx", "onnx-int8"):
        print(f"offline: {name}", file=sys.stderr)
        backend = load_backend(name, args.model_dir if name == "pytorch" else args.onnx_dir)
        timing, probabilities = offline(
            backend, texts, pairs, args.batch_size, settings.max_pass_tokens, args.concurrency
        )
        if reference is None:  # pytorch, the first
            reference = probabilities
        alone = timing["batch_1"].pop("probabilities")
        timing["batch_1"]["scores"] = headline_scores(backend, test, alone)
        results["offline"][name] = timing | {
            "scores": headline_scores(backend, test, probabilities),
            **agreement(backend, probabilities, reference),
        }
    base = results["offline"]["pytorch"]
    for entry in results["offline"].values():
        entry["speedup_batch_1"] = round(entry["batch_1"]["texts_per_s"] / base["batch_1"]["texts_per_s"], 2)
        entry["speedup_batched"] = round(entry["batched"]["texts_per_s"] / base["batched"]["texts_per_s"], 2)

    print(f"served: {args.serve_backend}", file=sys.stderr)
    port = free_port()
    server = start_server(
        args.serve_backend, args.model_dir if args.serve_backend == "pytorch" else args.onnx_dir, port, args.serve_args
    )
    url = f"http://127.0.0.1:{port}"
    offline_batched = results["offline"][args.serve_backend]["batched"]["texts_per_s"]
    offline_passes = results["offline"][args.serve_backend]["token_passes"]["texts_per_s"]
    results["served"] = []
    try:
        results["served_http_only"] = asyncio.run(health_rate(url, args.requests, args.concurrency))
        for per_request in args.texts_per_request:
            served = asyncio.run(load_test(url, texts, args.requests, args.concurrency, per_request))
            served["backend"] = args.serve_backend
            served["share_of_offline_batched"] = round(served["texts_per_s"] / offline_batched, 3)
            served["share_of_offline_token_passes"] = round(served["texts_per_s"] / offline_passes, 3)
            results["served"].append(served)
    finally:
        server.terminate()
        server.wait(timeout=30)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
