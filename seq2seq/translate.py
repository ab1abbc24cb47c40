"""Translator: texts -> checked -> tokenized -> length-sorted batches -> search -> detokenized, in input order."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Sequence

import torch

from seq2seq.config import SearchConfig
from seq2seq.data.batching import collate
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.decode.shortlist import Shortlist
from seq2seq.engine import Encoded, Engine, Result
from seq2seq.inputs import check_texts
from seq2seq.loading import Loaded

MAX_SRC_TOKENS = 250  # longer inputs are truncated (with a warning): RNN cost and memory grow with length

Translation = Result  # the name translations' results had


class Translator(Engine):
    """A translation model (or an ensemble of several) ready to decode. `search` holds the default settings; each
    call may change them: `translate(text, beam=10, alpha=1.0)`. See `load` for shipped names and model folders."""

    task = "translate"

    def __init__(self, model: torch.nn.Module, src_tok: Tokenizer, tgt_tok: Tokenizer,
                 search: SearchConfig | None = None, device: torch.device | str = "cpu",
                 shortlist: Shortlist | None = None, config=None, model_dir: Path | None = None,
                 members: Sequence[torch.nn.Module] = ()):
        super().__init__(model, tgt_tok, search, device, config, model_dir, members)
        self.src_tok = src_tok
        self.shortlist = shortlist  # used when the search's `shortlist` setting is on
        self.max_src_tokens = MAX_SRC_TOKENS

    @classmethod
    def from_loaded(cls, loaded: list[Loaded], search: SearchConfig) -> Translator:
        m = loaded[0]
        return cls(m.model, m.src_tok, m.tgt_tok, search, m.device, m.shortlist, m.config, m.model_dir,
                   [o.model for o in loaded[1:]])

    def translate(self, text: str | Sequence[str], **search) -> str | list[str]:
        """One string -> its translation; a list of strings -> a list of translations, in order."""
        if isinstance(text, str):
            return self.generate([text], **search)[0].text
        return [t.text for t in self.generate(text, **search)]

    def generate(self, texts: Sequence[str], return_attention: bool = False, warn: Callable[[str], None] | None = None,
                 progress: Callable[[int], None] | None = None, **search) -> list[Result]:
        """One Result (text, score, n-best, pieces, attention over the source pieces) per input, in order. Empty or
        whitespace-only inputs give empty outputs. `progress(n)` is called as each batch of n sentences is done."""
        s = self.search.updated(**search)
        texts = check_texts(texts)
        warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
        results: list[Result | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        for i, t in enumerate(texts):
            if not t.strip():
                results[i] = Result("", 0.0, [("", 0.0)] * s.nbest, [])
        ids = self.src_tok.encode([texts[i] for i in todo]) if todo else []
        for j, seq in enumerate(ids):
            if len(seq) > self.max_src_tokens:
                warn(f"input line {todo[j] + 1} has {len(seq)} subword tokens; truncated to {self.max_src_tokens}")
                ids[j] = seq[: self.max_src_tokens]
        if progress and len(todo) < len(texts):
            progress(len(texts) - len(todo))
        order = sorted(range(len(ids)), key=lambda j: len(ids[j]))
        done = self.decode_batches([ids[j] for j in order], self._encode, s, return_attention, progress)
        for j, res in zip(order, done):
            res.src_pieces = self.src_tok.pieces(ids[j]) + ["</s>"]
            if res.attention is not None:  # (T, S) cut to this sentence's own source (its pieces and EOS)
                res.attention = res.attention[:, : len(ids[j]) + 1]
            results[todo[j]] = res
        return results

    def _encode(self, ids: list[list[int]], s: SearchConfig) -> Encoded:
        """A batch of token ids -> each model's encoder output, and with the shortlist on, the batch's columns."""
        batch = collate(ids).to(self.device)
        columns = own = None
        if self.shortlist is not None and s.shortlist:
            columns, own = self.shortlist.for_batch(batch.src)
        lengths = batch.src_lengths.to(self.device)
        return Encoded([m.encode(batch.src, lengths) for m in self.models], batch.src_lengths, columns, own)
