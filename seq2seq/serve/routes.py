"""The endpoints: plain functions over the app's `Serving` state. Each request is checked whole before it is
queued (a bad item is a 4xx naming it), and waits for its results no longer than the timeout or the client."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import FileResponse

from seq2seq.data.images import load_image
from seq2seq.errors import UserError
from seq2seq.inputs import check_text
from seq2seq.serve.batcher import Busy, MicroBatcher
from seq2seq.serve.limits import MAX_BEAM, text_costs
from seq2seq.serve.schemas import (
    TranslateRequest,
    caption_reply,
    model_info,
    translation_reply,
)
from seq2seq.serve.state import Serving

STATIC = Path(__file__).parent / "static"
router = APIRouter()


def serving(request: Request) -> Serving:
    return request.app.state.serving


@router.get("/health")
async def health(state: Serving = Depends(serving)):
    return {"status": "ok", "models": [*state.translators, *state.captioners],
            "batches": {k: b.batches for k, b in state.batchers.items()},
            "queued_cost": {k: round(b.queued, 1) for k, b in state.batchers.items()}}


@router.get("/models")
async def models(state: Serving = Depends(serving)):
    return {"models": [model_info(n, tr, "translate") for n, tr in state.translators.items()]
            + [model_info(n, c, "caption") for n, c in state.captioners.items()]}


@router.post("/translate")
async def translate(req: TranslateRequest, request: Request, state: Serving = Depends(serving),
                    attention: bool = Query(False, description="include attention")):
    texts = checked_texts(req.text, state.limits.texts, state.limits.text_chars)
    name = state.translator(req.model, req.source, req.target)
    tr = state.translators[name]
    beam, nbest = req.beam or tr.search.beam, req.nbest or 1
    if nbest > beam:
        raise HTTPException(422, f"nbest ({nbest}) cannot exceed beam ({beam})")
    costs = admitted_costs(tr, texts, beam, state.limits.request_cost)
    results = await finish(request, state.batchers[name], texts, (beam, nbest, attention), costs, state.timeout_s)
    return {"model": name, "translations": [translation_reply(r, nbest, attention) for r in results]}


def checked_texts(text: str | list[str], max_texts: int, max_chars: int) -> list[str]:
    """The request's texts, each through `check_text` (control characters -> spaces; a lone surrogate is a 422
    naming the item); too many or too long -> 413."""
    texts = [text] if isinstance(text, str) else text
    if not texts:
        raise HTTPException(422, "text is an empty list")
    if len(texts) > max_texts:
        raise HTTPException(413, f"at most {max_texts} texts per request, got {len(texts)}")
    for i, t in enumerate(texts):
        if len(t) > max_chars:
            raise HTTPException(413, f"text {i} has {len(t)} characters; the limit is {max_chars}")
    try:
        return [check_text(t, i) for i, t in enumerate(texts)]
    except UserError as e:
        raise HTTPException(422, str(e)) from None


def admitted_costs(tr, texts: list[str], beam: int, limit: float) -> list[float]:
    """Each text's cost; a request costing more than `limit` is a 413 with the numbers."""
    lengths = [min(len(ids), tr.max_src_tokens) for ids in tr.src_tok.encode(texts)]
    costs = text_costs(lengths, beam)
    if sum(costs) > limit:
        raise HTTPException(413, f"this request would cost {sum(costs):,.0f} units ((subword tokens + 1) x beam: "
                                 f"{len(texts)} texts, {sum(lengths):,} tokens (at most {tr.max_src_tokens} a text), "
                                 f"beam {beam}); the limit is {limit:,.0f}: send fewer or shorter texts, or a "
                                 "smaller beam")
    return costs


@router.post("/caption")
async def caption(request: Request, state: Serving = Depends(serving),
                  file: UploadFile = File(..., description="an image file"),
                  beam: int | None = Form(None, ge=1, le=MAX_BEAM), model: str | None = Form(None),
                  attention: bool = Query(False, description="include attention over the image grid")):
    name = state.captioner(model)
    data = await file.read(state.limits.upload_bytes + 1)
    if len(data) > state.limits.upload_bytes:
        raise HTTPException(413, f"upload over {state.limits.upload_bytes:,} bytes")
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    try:  # off the event loop (a large image takes a while), two at a time (memory)
        async with state.decoding:
            image = await asyncio.to_thread(load_image, data, file.filename or "upload")
    except UserError as e:
        msg = str(e)
        raise HTTPException(413 if "too large" in msg else 415 if "not an image" in msg else 422, msg) from None
    megapixels = max(0.01, image.width * image.height / 1e6)  # what a queued image holds in memory
    options = (beam or state.captioners[name].search.beam, attention)
    (res,) = await finish(request, state.batchers[name], [image], options, [megapixels], state.timeout_s)
    return caption_reply(name, res, attention)


@router.get("/", include_in_schema=False)
async def index():
    return FileResponse(STATIC / "index.html")


async def finish(request: Request, batcher: MicroBatcher, items: list, options: tuple, costs: list[float],
                 timeout_s: float) -> list:
    """Queue the items and wait for their results; 503 with Retry-After when the queue is full. On a timeout
    (504) or when the client goes away, the request's queued work is dropped before it runs."""
    try:
        future = batcher.enqueue(items, options, costs)
    except Busy as e:
        raise HTTPException(503, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({future, gone}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        future.cancel()  # a no-op once it has its results
    if future in done:
        try:
            return future.result()
        except UserError as e:
            raise HTTPException(422, str(e)) from None
    if gone in done:
        raise HTTPException(499, "the client closed the connection")
    raise HTTPException(504, f"the request took longer than {timeout_s:.0f} s; its queued work was dropped")


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
