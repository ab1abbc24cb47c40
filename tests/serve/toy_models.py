"""What the server's tests share: tiny trained models (trained once per test process, whichever test file asks
first), gated translators that hold the worker, and an in-process client that runs the app's lifespan."""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import json
import shutil
import tempfile
import threading
from pathlib import Path

import httpx
import torch

from conftest import caption_config, shapes_dataset, tiny_config
from seq2seq.caption import Captioner
from seq2seq.train.trainer import Trainer
from seq2seq.translate import Translator


@functools.cache
def _model_dirs() -> tuple[Path, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="serve-tests-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    torch.manual_seed(0)
    cfg = tiny_config(tmp / "tr", model={"emb_dim": 32, "hidden": 64, "attention": "general"},
                      train={"max_steps": 200, "valid_every": 200, "batch_tokens": 1200, "lr": 0.005})
    Trainer(cfg, progress=False).train()
    files = shapes_dataset(tmp / "cap" / "data", n_train=40, n_valid=4)
    ccfg = caption_config(tmp / "cap", files, max_steps=30, valid_every=30)
    Trainer(ccfg, progress=False).train()
    return Path(cfg.model_dir), Path(ccfg.model_dir)


def translator_dir() -> Path:
    """The reversal task's tiny translator (character pieces): 200 steps, enough to say something."""
    return _model_dirs()[0]


def captioner_dir() -> Path:
    """The shapes task's tiny captioner: 30 steps."""
    return _model_dirs()[1]


def translators() -> dict:
    return {"toy": Translator.load(translator_dir(), "cpu", beam=2)}


def captioners() -> dict:
    return {"shapes": Captioner.load(captioner_dir(), "cpu", beam=2)}


class Gate:
    """Wraps a translator so that `generate` records its texts and, while the gate is closed, waits for it to
    open: the worker is held, and what reaches the model can be checked."""

    def __init__(self, translator):
        self.inner, self.seen = translator, []
        self.entered, self.opened = threading.Event(), threading.Event()
        self.translator = copy.copy(translator)
        self.translator.generate = self.generate

    def generate(self, texts, **kw):
        self.seen.append(list(texts))
        self.entered.set()
        self.opened.wait(timeout=30)
        return self.inner.generate(texts, **kw)


@contextlib.asynccontextmanager
async def client(app):
    """An httpx client on the app in-process, with the app's lifespan (its batchers) running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
            yield c


def post_json(c: httpx.AsyncClient, body, url: str = "/translate", **kw):
    """POST `body` as ASCII JSON (\\uXXXX escapes), so lone surrogates and NaN can be sent as a client could."""
    return c.post(url, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, **kw)
