"""LMTask: what the one training loop needs to train a language model (model.encoder=none) on monolingual text,
`data.train_tgt` / `data.valid_tgt`, one sentence per line, with one sentencepiece model."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from seq2seq.config import Config
from seq2seq.data.batching import Batch, lm_batch, token_batches
from seq2seq.data.corpus import read_lines, stream_lines
from seq2seq.data.store import Rows, Side
from seq2seq.errors import UserError
from seq2seq.lm import LanguageModel
from seq2seq.metrics import bleu_tokenize
from seq2seq.train.distributed import Dist
from seq2seq.train.tasks.common import from_rank0, prepare_tokenizers
from seq2seq.train.validation import ValidMetric

CHUNK = 20_000  # sentences tokenized at a time


class LMTask:
    """Training sentences as token rows (filtered by data.min_len/max_len), validation sentences, and for the log
    one greedy sentence per validation (the metric is the validation loss: perplexity = exp(loss))."""

    shows_bleu = False  # of one greedy sentence against an empty reference: nothing to read

    def __init__(self, cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
        d, dist = cfg.data, dist or Dist()
        if not d.train_tgt:
            raise UserError("no training text: set data.train_tgt (one sentence per line)")
        self.cfg = cfg
        lines = lambda: (t for t in stream_lines(d.train_tgt) if t.strip())  # noqa: E731
        self.src_tok, self.tgt_tok = from_rank0(dist, lambda: prepare_tokenizers(cfg, model_dir, [], lines))
        self.tgt, kept, total = self._rows(lines())
        log(f"training data: kept {kept:,} of {total:,} sentences ({d.min_len}..{d.max_len} tokens)")
        if not kept:
            raise UserError("no training sentences left after filtering; check data.min_len/max_len")
        if d.valid_tgt:
            valid = [t for t in read_lines(d.valid_tgt) if t.strip()]
        else:  # hold out the last training sentences, deterministically
            n = max(1, min(1000, kept // 20))
            log(f"no validation text given (data.valid_tgt): holding out the last {n} training sentences")
            valid = None
            self.valid_ids = [self.tgt[i] for i in range(kept - n, kept)]
            self.tgt = Rows(self.tgt.tokens[: self.tgt.offsets[kept - n]], self.tgt.offsets[: kept - n + 1])
        if valid is not None:
            self.valid_ids = [s[: d.max_len] for s in self.tgt_tok.encode(valid)]
        if d.max_valid:
            self.valid_ids = self.valid_ids[: d.max_valid]
        self.valid_refs = [[""]]  # one greedy sentence per validation, shown in the log

    def _rows(self, lines) -> tuple[Rows, int, int]:
        d = self.cfg.data
        side, kept, total = Side(None, len(self.tgt_tok)), 0, 0
        while chunk := list(itertools.islice(lines, CHUNK)):
            ids = [s for s in self.tgt_tok.encode(chunk) if d.min_len <= len(s) <= d.max_len]
            side.add(ids)
            kept, total = kept + len(ids), total + len(chunk)
        return side.close(), kept, total

    def attach(self, model, device) -> None:
        pass

    def lengths(self) -> tuple[np.ndarray, np.ndarray]:
        lengths = self.tgt.lengths()
        return np.zeros_like(lengths), lengths

    def batch(self, idx) -> Batch:
        return lm_batch([self.tgt[i] for i in idx])

    def valid_batches(self, batch_tokens: int):
        lengths = [len(s) for s in self.valid_ids]
        for idx in token_batches([0] * len(lengths), lengths, batch_tokens):
            yield lm_batch([self.valid_ids[i] for i in idx])

    def valid_metric(self, requested: str, say) -> ValidMetric:
        """The validation loss, whatever `requested` (auto or loss: Config checks)."""
        return ValidMetric("loss", self.valid_refs, say, bleu_tokenize(self.cfg.data.tgt_lang))

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        """The greedy sentence (from <s>), for the log."""
        return [g.text for g in LanguageModel(model, self.tgt_tok, device).generate([""], beam=1)[0]][part]
