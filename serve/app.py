"""FastAPI app: POST /translate, POST /caption, GET /models, GET /health, the web page at /.
Thin over `Translator` and `Captioner`.

Every bad request is a 4xx with a JSON `detail`; inference runs in one worker thread, micro-batched.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from seq2seq.hub import card_summary
from serve.batcher import MicroBatcher

STATIC = Path(__file__).parent / "static"
MAX_TEXT_CHARS = 2000
MAX_TEXTS = 64
MAX_BODY_BYTES = 1 << 20
MAX_UPLOAD_BYTES = 10 << 20  # /caption
MAX_BEAM = 16


class TranslateRequest(BaseModel):
    text: str | list[str] = Field(description="one text or a list of texts")
    model: str | None = Field(None, description="a loaded model's name (see /models)")
    source: str | None = Field(None, alias="from", description="source language, picks the model")
    target: str | None = Field(None, alias="to", description="target language, picks the model")
    beam: int | None = Field(None, ge=1, le=MAX_BEAM)
    nbest: int | None = Field(None, ge=1, le=MAX_BEAM)

    model_config = {"populate_by_name": True}


def _model_info(name: str, m, task: str) -> dict:
    summary = card_summary(getattr(m, "model_dir", ""))
    d = m.config.data
    return {"name": name, "task": task, "from": "image" if task == "caption" else d.src_lang, "to": d.tgt_lang,
            "beam": m.search.beam, "summary": summary}


def _image_status(msg: str) -> int:
    return 413 if "too large" in msg else 415 if "not an image" in msg else 422


def create_app(translators: dict, captioners: dict | None = None, batching: bool = True, window_ms: float = 5.0,
               max_batch: int = 64, timeout_s: float = 30.0) -> FastAPI:
    """`translators`: name -> Translator, `captioners`: name -> Captioner; the first of each is the default."""
    captioners = captioners or {}
    if not translators and not captioners:
        raise ValueError("no models to serve")
    batchers, cap_batchers = {}, {}

    def runner(tr):
        def run(texts, options):
            beam, nbest, attention = options
            return tr.generate(texts, return_attention=attention, warn=lambda m: None, beam=beam, nbest=nbest)
        return run

    def cap_runner(cap):
        def run(images, options):
            beam, attention = options
            return cap.generate(images, return_attention=attention, beam=beam, nbest=1)
        return run

    @asynccontextmanager
    async def lifespan(app):
        for name, tr in translators.items():
            batchers[name] = MicroBatcher(runner(tr), window_ms, max_batch)
        for name, cap in captioners.items():
            cap_batchers[name] = MicroBatcher(cap_runner(cap), window_ms, max(1, max_batch // 4))
        if batching:
            for b in (*batchers.values(), *cap_batchers.values()):
                await b.start()
        yield
        for b in (*batchers.values(), *cap_batchers.values()):
            await b.stop()

    app = FastAPI(title="seq2seq", description="RNN encoder-decoder translation", lifespan=lifespan)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        limit = MAX_UPLOAD_BYTES if request.url.path == "/caption" else MAX_BODY_BYTES
        if size is not None and size.isdigit() and int(size) > limit:
            return JSONResponse({"detail": f"request body over {limit:,} bytes"}, status_code=413)
        return await call_next(request)

    def pick(req: TranslateRequest) -> str:
        if not translators:
            raise HTTPException(404, "no translation model is loaded")
        if req.model:
            if req.model not in translators:
                raise HTTPException(404, f"no model named {req.model!r}; loaded: {', '.join(translators)}")
            return req.model
        if req.source or req.target:
            for name, tr in translators.items():
                d = tr.config.data
                if req.source in (None, d.src_lang) and req.target in (None, d.tgt_lang):
                    return name
            raise HTTPException(404, f"no loaded model translates {req.source or '?'}->{req.target or '?'}")
        return next(iter(translators))

    @app.get("/health")
    async def health():
        return {"status": "ok", "models": [*translators, *captioners],
                "batches": {k: b.batches for k, b in (*batchers.items(), *cap_batchers.items())}}

    @app.get("/models")
    async def models():
        return {"models": [_model_info(n, tr, "translate") for n, tr in translators.items()]
                + [_model_info(n, c, "caption") for n, c in captioners.items()]}

    @app.post("/caption")
    async def caption(file: UploadFile = File(..., description="an image file"),
                      beam: int | None = Form(None, ge=1, le=MAX_BEAM), model: str | None = Form(None),
                      attention: bool = Query(False, description="include attention over the image grid")):
        from seq2seq import UserError
        from seq2seq.images import load_image

        if not captioners:
            raise HTTPException(404, "no captioning model is loaded")
        name = model or next(iter(captioners))
        if name not in captioners:
            raise HTTPException(404, f"no captioning model named {name!r}; loaded: {', '.join(captioners)}")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"upload over {MAX_UPLOAD_BYTES:,} bytes")
        if not data:
            raise HTTPException(422, "the uploaded file is empty")
        try:
            image = load_image(data, name=file.filename or "upload")
        except UserError as e:
            raise HTTPException(_image_status(str(e)), str(e)) from None
        cap = captioners[name]
        try:
            (res,) = await asyncio.wait_for(cap_batchers[name].submit([image], (beam or cap.search.beam, attention)),
                                            timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"captioning took longer than {timeout_s:.0f} s") from None
        out = {"model": name, "caption": res.text, "score": round(res.score, 4)}
        if attention and res.attention is not None:
            n = res.attention.size(1)
            side = int(round(n**0.5))
            out["attention"] = {"tokens": res.tokens, "grid": [side, n // side],
                                "weights": [[round(float(w), 4) for w in row] for row in res.attention]}
        return out

    @app.post("/translate")
    async def translate(req: TranslateRequest, attention: bool = Query(False, description="include attention")):
        texts = [req.text] if isinstance(req.text, str) else req.text
        if not texts:
            raise HTTPException(422, "text is an empty list")
        if len(texts) > MAX_TEXTS:
            raise HTTPException(413, f"at most {MAX_TEXTS} texts per request, got {len(texts)}")
        long = [i for i, t in enumerate(texts) if len(t) > MAX_TEXT_CHARS]
        if long:
            raise HTTPException(413, f"text {long[0]} has {len(texts[long[0]])} characters; the limit is "
                                     f"{MAX_TEXT_CHARS}")
        name = pick(req)
        tr = translators[name]
        beam = req.beam or tr.search.beam
        nbest = req.nbest or 1
        if nbest > beam:
            raise HTTPException(422, f"nbest ({nbest}) cannot exceed beam ({beam})")
        try:
            results = await asyncio.wait_for(batchers[name].submit(texts, (beam, nbest, attention)), timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"translation took longer than {timeout_s:.0f} s") from None
        out = []
        for r in results:
            item = {"text": r.text, "score": round(r.score, 4)}
            if nbest > 1:
                item["nbest"] = [{"text": t, "score": round(s, 4)} for t, s in r.nbest]
            if attention:
                item["attention"] = {"source": r.src_pieces, "target": r.tgt_pieces,
                                     "weights": [] if r.attention is None else
                                     [[round(float(w), 4) for w in row] for row in r.attention]}
            out.append(item)
        return {"model": name, "translations": out}

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
