"""Serve the classifier over HTTP: `POST /predict`, `GET /health`, the OpenAPI page at /docs.

Loads the chosen backend once (`serve.backend`: onnx-int8, onnx, or pytorch) and answers with
labels and calibrated probabilities for one text or a list. Texts of requests that arrive
together run as one batch (serve.max_batch_texts, max_wait_ms, max_pass_tokens). It listens on
127.0.0.1 unless told otherwise; with LORAFLOW_API_KEY set in the environment, every request but
/health and the docs needs that key (`Authorization: Bearer <key>` or `X-API-Key: <key>`).

    python -m src.export --onnx && python -m src.serve
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"texts": ["i feel wonderful today"]}'
    python -m src.serve --backend pytorch --port 9000
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import replace
from pathlib import Path

from src.core.cli import command_parser, run_command
from src.core.errors import ParamsError
from src.core.params import BACKEND_NAMES, Params
from src.model.backends import load_backend

log = logging.getLogger("serve")


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from src.serving.app import API_KEY_ENV, create_app

    settings = Params.load().serve
    overrides = {key: getattr(args, key) for key in ("backend", "host", "port") if getattr(args, key) is not None}
    settings = replace(settings, **overrides)
    api_key = os.environ.get(API_KEY_ENV) or None
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        log.warning(
            "serve: listening on %s with no API key: anyone who can reach it can use it (set %s)",
            settings.host,
            API_KEY_ENV,
        )
    if args.port is not None and not 1 <= args.port <= 65535:
        raise ParamsError(f"--port is {args.port}; use a port from 1 to 65535.")
    backend = load_backend(settings.backend, args.model_dir)
    app = create_app(backend, settings, api_key)
    log.info(
        "serve: %s model (%d labels) on http://%s:%d, API docs at /docs%s",
        backend.name,
        len(backend.label_names),
        settings.host,
        settings.port,
        ", API key required" if api_key else "",
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=args.access_log)


def parser() -> argparse.ArgumentParser:
    parser = command_parser(__doc__)
    parser.add_argument("--backend", choices=BACKEND_NAMES, help="default: serve.backend")
    parser.add_argument("--host", help="default: serve.host (127.0.0.1)")
    parser.add_argument("--port", type=int, help="default: serve.port")
    parser.add_argument("--model-dir", type=Path, help="default: models/onnx, or models/finetuned for pytorch")
    parser.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    return parser


def main(argv=None) -> None:
    run_command(serve, parser(), argv)


if __name__ == "__main__":
    main()
