"""The API's JSON: the translate request, the replies built from Translation / Caption results, and `json_safe`
for error replies that echo a client's input back."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from seq2seq.hub import card_summary
from seq2seq.serve.limits import MAX_BEAM
from seq2seq.serve.registry import describe


class TranslateRequest(BaseModel):
    text: str | list[str] = Field(description="one text or a list of texts")
    model: str | None = Field(None, description="a loaded model's name (see /models)")
    source: str | None = Field(None, alias="from", description="source language, picks the model")
    target: str | None = Field(None, alias="to", description="target language, picks the model")
    beam: int | None = Field(None, ge=1, le=MAX_BEAM)
    nbest: int | None = Field(None, ge=1, le=MAX_BEAM)

    model_config = {"populate_by_name": True}


def _weights(rows) -> list[list[float]]:
    return [[round(float(w), 4) for w in row] for row in rows]


def translation_reply(r, nbest: int, attention: bool) -> dict:
    """One item of `translations`: text and score, plus the n best and the attention when asked."""
    item = {"text": r.text, "score": round(r.score, 4)}
    if nbest > 1:
        item["nbest"] = [{"text": t, "score": round(s, 4)} for t, s in r.nbest]
    if attention:
        item["attention"] = {"source": r.src_pieces, "target": r.tgt_pieces,
                             "weights": [] if r.attention is None else _weights(r.attention)}
    return item


def caption_reply(name: str, res, attention: bool) -> dict:
    """The caption and score, the region of the upright image the model saw ([left, top, width, height] in its
    pixels: all of it when the model squashes, the centre square when it crops), plus the attention over the
    image grid (rows x columns, laid over that region) when asked."""
    out = {"model": name, "caption": res.text, "score": round(res.score, 4)}
    if res.region is not None:
        out["region"] = list(res.region)
    if attention and res.attention is not None:
        n = res.attention.size(1)
        side = int(round(n**0.5))
        out["attention"] = {"tokens": res.tokens, "grid": [side, n // side], "weights": _weights(res.attention)}
    return out


def model_info(name: str, m, task: str) -> dict:
    d = m.config.data
    return {"name": name, "task": task, "from": "image" if task == "caption" else d.src_lang, "to": d.tgt_lang,
            "beam": m.search.beam, "summary": card_summary(getattr(m, "model_dir", "")), **describe(m)}


def json_safe(value):
    """`value` with what JSON cannot carry made printable: NaN and infinities as strings, lone surrogates as
    \\uXXXX escapes (validation errors echo the client's input, which may hold both)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
