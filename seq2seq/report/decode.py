"""The one place the report runs a model: loading it through the public API (the Translator or Captioner that reads
the test set's inputs), decoding the test set (a progress bar follows the batches), and the attention of a few
chosen items."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.caption import Captioner
from seq2seq.data.corpus import normalize_caption
from seq2seq.data.images import load_image
from seq2seq.engine import Engine
from seq2seq.errors import UserError
from seq2seq.hub import resolve
from seq2seq.model.build import count_parameters
from seq2seq.modeldir import CONFIG, model_task
from seq2seq.report.inputs import system_name
from seq2seq.report.options import ReportOptions
from seq2seq.translate import Translator

ENGINES = {"translate": Translator, "caption": Captioner}  # the public API class that reads each task's inputs


@dataclass
class Attention:
    """One item's best output and its attention: rows are output pieces (end-of-sentence included), columns are
    source pieces (translation) or cells of the image's feature grid (captioning, with the image)."""

    text: str
    rows: list[str]
    cols: list[str] | None
    weights: np.ndarray  # (T, S) or (T, N)
    image: object = None  # PIL image, captioning only


class System:
    """A loaded model (a Translator, possibly an ensemble, or a Captioner with the report's search settings, LM
    fusion included) and what the report shows about it."""

    def __init__(self, task: str, engine: Engine):
        self.task, self.engine = task, engine
        self.model_dirs = [Path(d) for d in engine.model_dirs]  # with the members a model's config names
        self.model_dir = self.model_dirs[0]  # the first member: its training log and card.md are shown

    @classmethod
    def load(cls, specs: str | tuple[str, ...] | None, task: str, opts: ReportOptions, flag: str = "--model") -> System:
        """The model(s) named by `specs` (directories or shipped names, several: an ensemble; none: the shipped
        one for the task). The fusion LM, if any, is loaded now: one of another vocabulary is refused here."""
        specs = (specs,) if isinstance(specs, str) else tuple(specs or ())
        model_dirs = [resolve(s, task=task) for s in specs] or [resolve(None, task=task)]
        checkpoint = opts.checkpoint if flag == "--model" else None
        search = opts.search_overrides(fusion=flag == "--model")
        if task == "translate":  # sentences in: a captioner cannot read them
            _refuse_captioners(specs, model_dirs, flag)
        engine = ENGINES[task].load(model_dirs, opts.device, checkpoint=checkpoint, ensemble=opts.ensemble, **search)
        engine.language_model()
        return cls(task, engine)

    @property
    def name(self) -> str:
        """'A', 'A + B' for an ensemble, with ' + LM x W' for shallow fusion."""
        name = " + ".join(system_name(d) for d in self.model_dirs)
        s = self.search
        return f"{name} + {system_name(s.lm)} x {s.lm_weight:g}" if s.lm and s.lm_weight else name

    def fusion(self) -> list[list[str]]:
        """The card's rows on how the models are combined: the ensemble's members, the fusion LM and weight."""
        rows = []
        if len(self.model_dirs) > 1:
            rows.append(["ensemble", f"{len(self.model_dirs)} models, log-probabilities averaged at every step: "
                                     + ", ".join(str(d) for d in self.model_dirs)])
        s = self.search
        if s.lm and s.lm_weight:
            rows.append(["language model (shallow fusion)", f"{s.lm}, weight {s.lm_weight:g} x log p_LM"])
        return rows

    # -- what the card shows ---------------------------------------------------------------------------------
    @property
    def config(self):
        return self.engine.config

    @property
    def search(self):
        return self.engine.search

    @property
    def device(self):
        return self.engine.device

    def n_params(self) -> int:
        """All members' parameters (the fusion LM's not counted)."""
        return sum(count_parameters(m) for m in self.engine.models)

    def vocabulary(self) -> tuple[str, str]:
        """The card's row on the sentencepiece models: the source's and the target's, or a captioner's one."""
        src, tgt = self.engine.src_tok, self.engine.tgt_tok
        if src is None:  # images in
            return "vocabulary", f"{len(tgt):,}"
        return "vocabulary (source / target)", f"{len(src):,} / {len(tgt):,}"

    def uses_shortlist(self) -> bool:
        return self.engine.shortlist is not None and bool(self.search.shortlist)

    # -- decoding ------------------------------------------------------------------------------------------
    def decode(self, sources: list[str], advance: Callable[[int], None] = lambda n: None) -> tuple[list[str], float]:
        """Hypotheses for every source (sentences, or image paths: captions normalised as they are scored) and
        the seconds spent decoding; `advance(k)` after each batch of k items."""
        if self.task == "caption":
            return self._caption(sources, advance)
        t0 = time.perf_counter()
        hyps = [r.text for r in self.engine.generate(sources, warn=_warn, progress=advance)]
        return hyps, time.perf_counter() - t0

    def _caption(self, paths: list[str], advance: Callable[[int], None]) -> tuple[list[str], float]:
        """Images are loaded a batch at a time (a test set of photos need not fit in memory); the seconds
        count captioning only, not image loading."""
        hyps, seconds = [], 0.0
        step = self.search.batch_size
        for s in range(0, len(paths), step):
            images = [load_image(p) for p in paths[s : s + step]]
            t0 = time.perf_counter()
            hyps += [normalize_caption(c.text) for c in self.engine.generate(images)]
            seconds += time.perf_counter() - t0
            advance(len(images))
        return hyps, seconds

    def attention(self, sources: list[str]) -> list[Attention | None]:
        """The best output's attention for each source, decoded again with the same search (None where the
        model returned none): over the source's pieces, or over the image's feature grid, shown with the image."""
        if self.task == "caption":  # image files: opened once, for the model and for the figure
            images = [load_image(p) for p in sources]
            results = self.engine.generate(images, return_attention=True)
        else:
            images = [None] * len(sources)
            results = self.engine.generate(sources, return_attention=True, warn=lambda m: None)
        return [None if r.attention is None else
                Attention(r.text, r.tgt_pieces, r.src_pieces or None, r.attention.float().numpy(), image)
                for r, image in zip(results, images)]


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _refuse_captioners(specs: tuple[str, ...], model_dirs: list[Path], flag: str) -> None:
    """A captioning model given to translate sentences is a UserError saying what to give instead."""
    for spec, model_dir in zip(specs or (None,), model_dirs):
        if (model_dir / CONFIG).is_file() and model_task(model_dir) == "caption":
            hint = "give --images/--captions or --dataset instead of --src" if flag == "--model" else \
                "compare translation models"
            raise UserError(f"{flag} {spec or model_dir} is a captioning model; {hint}")
