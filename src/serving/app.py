"""The FastAPI app: `POST /predict`, `GET /health`, and the OpenAPI page at /docs.

Bad requests get a 4xx whose body is one line, `{"error": "..."}`: 400 for a body that is not
JSON, 422 for one of the wrong shape (no texts, an empty list, a text that is not a string), 413
for too many texts or a text too long, and 401 for a missing or wrong API key when the server has
one (LORAFLOW_API_KEY). The key is checked before the body is read, so an unauthorised request
costs no model work.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from src.core.params import ServeParams
from src.model.backends import Backend
from src.serving.batching import Batcher

log = logging.getLogger("serve")

API_KEY_ENV = "LORAFLOW_API_KEY"
OPEN_PATHS = ("/health", "/docs", "/openapi.json", "/redoc")


class PredictRequest(BaseModel):
    """One text (`text`) or a list (`texts`); a model trained on text pairs also takes the
    second texts (`text_pair` or `text_pairs`)."""

    model_config = ConfigDict(extra="forbid")
    text: StrictStr | None = Field(None, examples=["i feel wonderful today"])
    texts: list[StrictStr] | None = Field(None, examples=[["i feel wonderful today", "this is so unfair"]])
    text_pair: StrictStr | None = None
    text_pairs: list[StrictStr] | None = None


class Prediction(BaseModel):
    label: str | None = None  # single-label models
    labels: list[str] | None = None  # multi-label models: every label at or above its threshold
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    backend: str
    predictions: list[Prediction]


class BadRequest(Exception):
    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason


def create_app(backend: Backend, settings: ServeParams, api_key: str | None) -> FastAPI:
    batcher = Batcher(backend, settings.max_batch_texts, settings.max_wait_ms / 1000, settings.max_pass_tokens)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="loraflow classifier",
        description=f"{backend.name} model, {len(backend.label_names)} labels: {', '.join(backend.label_names)}",
        lifespan=lifespan,
    )
    app.state.batcher = batcher

    if api_key:

        @app.middleware("http")
        async def require_key(request: Request, call_next):
            if request.url.path not in OPEN_PATHS and not _key_matches(request, api_key):
                return JSONResponse(
                    {"error": "missing or wrong API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def one_line(request: Request, error: RequestValidationError):
        first = error.errors()[0]
        if first.get("type") == "json_invalid":
            return JSONResponse({"error": f"the body is not valid JSON ({first.get('msg', '')})"}, status_code=400)
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"][1:]).lstrip(".")
        return JSONResponse({"error": f"{where or 'body'}: {first['msg']}"}, status_code=422)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, error: BadRequest):
        return JSONResponse({"error": error.reason}, status_code=error.status)

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "backend": backend.name,
            "task": backend.task,
            "labels": backend.label_names,
            "batches": batcher.batches,
            "texts": batcher.texts,
            "model_seconds": round(batcher.model_seconds, 3),
        }

    # The response model documents the answer on /docs; the handler returns the JSON itself,
    # which skips validating every answer again (a measurable share of a small request's time).
    @app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True)
    async def predict(body: PredictRequest) -> JSONResponse:
        texts, pairs = _inputs(body, backend.text_pair, settings)
        probabilities = await batcher.probabilities(texts, pairs)
        decisions = backend.decide(probabilities)
        names = backend.label_names
        predictions = []
        for row, decided in zip(probabilities, decisions, strict=True):
            shares = {name: round(float(p), 6) for name, p in zip(names, row, strict=True)}
            if decided.ndim == 0:
                predictions.append({"label": names[int(decided)], "probabilities": shares})
            else:
                chosen = [name for name, on in zip(names, decided, strict=True) if on]
                predictions.append({"labels": chosen, "probabilities": shares})
        return JSONResponse({"backend": backend.name, "predictions": predictions})

    return app


def _key_matches(request: Request, api_key: str) -> bool:
    given = request.headers.get("x-api-key") or ""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    return secrets.compare_digest(given.encode(), api_key.encode())


def _inputs(body: PredictRequest, pair: bool, settings: ServeParams) -> tuple[list[str], list[str] | None]:
    if (body.text is None) == (body.texts is None):
        raise BadRequest(422, "send one text as 'text' or a list as 'texts' (one of the two)")
    texts = [body.text] if body.text is not None else body.texts
    seconds = [body.text_pair] if body.text_pair is not None else body.text_pairs
    if not texts:
        raise BadRequest(422, "texts is empty; send at least one text")
    if len(texts) > settings.max_texts:
        raise BadRequest(413, f"{len(texts)} texts in one request; send at most {settings.max_texts} (serve.max_texts)")
    if pair != (seconds is not None):
        needed = (
            "needs the second texts too ('text_pair' or 'text_pairs')"
            if pair
            else "reads single texts; drop 'text_pair(s)'"
        )
        raise BadRequest(422, f"this model {needed}")
    if seconds is not None and len(seconds) != len(texts):
        raise BadRequest(422, f"{len(texts)} texts but {len(seconds)} second texts; send one pair each")
    for name, values in (("texts", texts), ("text_pairs", seconds or [])):
        for i, text in enumerate(values):
            if len(text) > settings.max_text_chars:
                raise BadRequest(
                    413,
                    f"{name}[{i}] has {len(text):,} characters; at most {settings.max_text_chars:,} (serve.max_text_chars)",
                )
    return texts, seconds
