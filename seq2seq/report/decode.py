"""The one place the report runs a model: loading it through the public Translator / Captioner, decoding the
test set (a progress bar follows the batches), and the attention of a few chosen items."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.errors import UserError
from seq2seq.report.options import ReportOptions


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

    def __init__(self, task: str, model_dirs: list[Path], engine):
        self.task, self.model_dirs, self.engine = task, [Path(d) for d in model_dirs], engine
        self.model_dir = self.model_dirs[0]  # the first member: its training log and card.md are shown

    @classmethod
    def load(cls, specs: str | tuple[str, ...] | None, task: str, opts: ReportOptions, flag: str = "--model") -> System:
        """The model(s) named by `specs` (directories or shipped names, several: an ensemble; none: the shipped
        one for the task). The fusion LM, if any, is loaded now: one of another vocabulary is refused here."""
        from seq2seq.hub import resolve
        from seq2seq.modeldir import CONFIG, model_task

        specs = (specs,) if isinstance(specs, str) else tuple(specs or ())
        model_dirs = [resolve(s, task=task) for s in specs] or [resolve(None, task=task)]
        checkpoint = opts.checkpoint if flag == "--model" else None
        search = opts.search_overrides(fusion=flag == "--model")
        if task == "translate":
            from seq2seq.translate import Translator

            for spec, model_dir in zip(specs or (None,), model_dirs):
                if (model_dir / CONFIG).is_file() and model_task(model_dir) == "caption":
                    hint = ("give --images/--captions or --dataset instead of --src" if flag == "--model" else
                            "compare translation models")
                    raise UserError(f"{flag} {spec or model_dir} is a captioning model; {hint}")
            engine = Translator.load(model_dirs, opts.device, checkpoint=checkpoint, ensemble=opts.ensemble, **search)
        else:
            from seq2seq.caption import Captioner

            engine = Captioner.load(model_dirs, opts.device, checkpoint=checkpoint, ensemble=opts.ensemble, **search)
        engine.language_model()
        return cls(task, engine.model_dirs, engine)  # with the members a model's config names

    @property
    def name(self) -> str:
        """'A', 'A + B' for an ensemble, with ' + LM x W' for shallow fusion."""
        from seq2seq.report.inputs import system_name

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
        from seq2seq.model.build import count_parameters

        return sum(count_parameters(m) for m in [self.engine.model, *getattr(self.engine, "members", [])])

    def vocabulary(self) -> tuple[str, str]:
        if self.task == "translate":
            return "vocabulary (source / target)", f"{len(self.engine.src_tok):,} / {len(self.engine.tgt_tok):,}"
        return "vocabulary", f"{len(self.engine.tok):,}"

    def uses_shortlist(self) -> bool:
        return self.task == "translate" and self.engine.shortlist is not None and bool(self.search.shortlist)

    # -- decoding ------------------------------------------------------------------------------------------
    def decode(self, sources: list[str], advance: Callable[[int], None] = lambda n: None) -> tuple[list[str], float]:
        """Hypotheses for every source (sentences, or image paths: captions normalised as they are scored) and
        the seconds spent decoding; `advance(k)` after each batch of k items."""
        if self.task == "translate":
            t0 = time.perf_counter()
            return self._translate(sources, advance), time.perf_counter() - t0
        return self._caption(sources, advance)

    def _translate(self, texts: list[str], advance: Callable[[int], None]) -> list[str]:
        warn = lambda msg: print(f"warning: {msg}", file=sys.stderr)  # noqa: E731
        return [t.text for t in self.engine.generate(texts, warn=warn, progress=advance)]

    def _caption(self, paths: list[str], advance: Callable[[int], None]) -> tuple[list[str], float]:
        """Images are loaded a batch at a time (a test set of photos need not fit in memory); the seconds
        count captioning only, not image loading."""
        from seq2seq.data.corpus import normalize_caption
        from seq2seq.data.images import load_image

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
        model returned none)."""
        if self.task == "translate":
            res = self.engine.generate(sources, return_attention=True, warn=lambda m: None)
            # (T, S): batch padding columns (weight 0) cut off
            return [None if r.attention is None else
                    Attention(r.text, r.tgt_pieces, r.src_pieces, r.attention.float().numpy()[:, : len(r.src_pieces)])
                    for r in res]
        from seq2seq.data.images import load_image

        images = [load_image(p) for p in sources]
        caps = self.engine.generate(images, return_attention=True)
        return [None if c.attention is None else Attention(c.text, c.tokens, None, c.attention.float().numpy(), img)
                for img, c in zip(images, caps)]
