"""FastAPI app: POST /translate, POST /caption, GET /models, GET /health, the web page at /.
Thin over `Translator` and `Captioner`: routes in routes.py, limits in limits.py, batching in batcher.py.

Every bad request is a 4xx with a JSON `detail` and costs that request only; inference runs in one worker
thread per model, micro-batched, with admission by cost.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from seq2seq.serve.limits import (  # noqa: F401
    MAX_BEAM,
    MAX_BODY_BYTES,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    Limits,
)
from seq2seq.serve.middleware import BodyLimit
from seq2seq.serve.routes import STATIC, router
from seq2seq.serve.schemas import json_safe
from seq2seq.serve.state import Serving


def create_app(translators: dict, captioners: dict | None = None, batching: bool = True, window_ms: float = 5.0,
               max_batch: int = 64, timeout_s: float = 30.0, limits: Limits | None = None) -> FastAPI:
    """`translators`: name -> Translator, `captioners`: name -> Captioner; the first of each is the default.
    `batching=False` decodes each request on its own; `limits` changes sizes, costs and queue bounds."""
    serving = Serving(translators, captioners or {}, limits or Limits(), timeout_s)
    if not serving.translators and not serving.captioners:
        raise ValueError("no models to serve")

    @asynccontextmanager
    async def lifespan(app):
        await serving.start(batching, window_ms, max_batch)
        yield
        await serving.stop()

    app = FastAPI(title="seq2seq", description="RNN encoder-decoder translation and captioning", lifespan=lifespan)
    app.state.serving = serving
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(BodyLimit, limits=serving.limits)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing the errors; the input they echo may hold NaN, infinities or lone surrogates (FastAPI's own
    handler failed on those with a 500)."""
    return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """The error as JSON `detail` (which may quote the client's input)."""
    return JSONResponse({"detail": json_safe(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
