"""What an app serves: its models, their micro-batchers and limits, and the choice of a model for a request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import HTTPException

from seq2seq.serve.batcher import MicroBatcher
from seq2seq.serve.limits import Limits


@dataclass
class Serving:
    """`translators`: name -> Translator, `captioners`: name -> Captioner; the first of each is the default.
    Each model has one batcher, which runs its decoding in one worker thread."""

    translators: dict
    captioners: dict
    limits: Limits = field(default_factory=Limits)
    timeout_s: float = 30.0
    batchers: dict[str, MicroBatcher] = field(default_factory=dict)
    decoding: asyncio.Semaphore | None = None  # uploads decoded at once (each up to 50 M pixels, 150 MB)

    async def start(self, batching: bool = True, window_ms: float = 5.0, max_batch: int = 64) -> None:
        lim = self.limits
        self.decoding = asyncio.Semaphore(2)
        for name, tr in self.translators.items():
            self.batchers[name] = MicroBatcher(_translate(tr), window_ms, max_batch, lim.batch_cost,
                                               lim.queued_cost, grouping=batching)
        for name, cap in self.captioners.items():
            self.batchers[name] = MicroBatcher(_caption(cap), window_ms, max(1, max_batch // 4),
                                               max_queued_cost=lim.queued_megapixels, grouping=batching)
        for b in self.batchers.values():
            await b.start()

    async def stop(self) -> None:
        for b in self.batchers.values():
            await b.stop()

    def translator(self, model: str | None, source: str | None, target: str | None) -> str:
        """The name of the translator asked for by name, or else by direction, or else the default."""
        if not self.translators:
            raise HTTPException(404, "no translation model is loaded")
        if model:
            if model not in self.translators:
                raise HTTPException(404, f"no model named {model!r}; loaded: {', '.join(self.translators)}")
            return model
        for name, tr in self.translators.items():
            d = tr.config.data
            if source in (None, d.src_lang) and target in (None, d.tgt_lang):
                return name
        raise HTTPException(404, f"no loaded model translates {source or '?'!r}->{target or '?'!r}")

    def captioner(self, model: str | None) -> str:
        if not self.captioners:
            raise HTTPException(404, "no captioning model is loaded")
        name = model or next(iter(self.captioners))
        if name not in self.captioners:
            raise HTTPException(404, f"no captioning model named {name!r}; loaded: {', '.join(self.captioners)}")
        return name


def _translate(tr):
    def run(texts, options):
        beam, nbest, attention = options
        return tr.generate(texts, return_attention=attention, warn=lambda m: None, beam=beam, nbest=nbest)
    return run


def _caption(cap):
    def run(images, options):
        beam, attention = options
        return cap.generate(images, return_attention=attention, beam=beam, nbest=1)
    return run
