"""Translator: texts -> checked -> tokenized -> length-sorted batches -> search -> detokenized, in input order."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from seq2seq.config import SearchConfig
from seq2seq.data.batching import collate
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.decode.combine import search_inputs
from seq2seq.decode.search import decode
from seq2seq.decode.shortlist import Shortlist
from seq2seq.inputs import check_texts
from seq2seq.loading import check_vocabularies, fusion_lm, load, load_members

MAX_SRC_TOKENS = 250  # longer inputs are truncated (with a warning): RNN cost and memory grow with length


@dataclass
class Translation:
    text: str  # best hypothesis, detokenized
    score: float
    nbest: list[tuple[str, float]]  # all n best, best first
    src_pieces: list[str]
    tgt_pieces: list[str]
    attention: torch.Tensor | None = None  # (T, S) for the best hypothesis, when asked


class Translator:
    """A translation model (or an ensemble of several) ready to decode. `search` holds the default settings; each
    call may change them: `translate(text, beam=10, alpha=1.0)`. See `load` for shipped names and model folders."""

    def __init__(self, model: torch.nn.Module, src_tok: Tokenizer, tgt_tok: Tokenizer,
                 search: SearchConfig | None = None, device: torch.device | str = "cpu",
                 shortlist: Shortlist | None = None, config=None, model_dir: Path | None = None,
                 members: Sequence[torch.nn.Module] = ()):
        self.model, self.src_tok, self.tgt_tok = model, src_tok, tgt_tok
        self.members = list(members)  # more models of the same vocabularies: an ensemble with `model`
        self.search = search or SearchConfig()
        self.device = torch.device(device)
        self.shortlist = shortlist  # used when the search's `shortlist` setting is on
        self.config, self.model_dir = config, model_dir
        self.model_dirs = [model_dir] if model_dir is not None else []  # every member's folder, `model_dir` first
        self.max_src_tokens = MAX_SRC_TOKENS
        self.lms: dict = {}  # shallow fusion's language models (search.lm), loaded on first use

    @classmethod
    def load(cls, name_or_dir: str | Path | Sequence[str | Path], device: str = "auto", *, quantize: bool = False,
             checkpoint: str | None = None, ensemble: bool = True, **search) -> "Translator":
        """A shipped model by name (`seq2seq models`) or any model directory, or a list of them: an ensemble,
        which averages the models' log-probabilities at every search step (they must share their sentencepiece
        models; the first one's config, search settings and shortlist are used). A model loaded alone whose config
        names members (search.ensemble) is that ensemble unless `ensemble=False`. `checkpoint` best | last |
        average picks weights in a training run's directory; search settings (beam, alpha, nbest, batch_size,
        shortlist, max_len_ratio, max_len_offset, no_repeat_ngram, lm, lm_weight) become this translator's
        defaults. lm and lm_weight: shallow fusion with a language model of the target language."""
        def load_one(name, checkpoint=checkpoint):
            return load(name, device, quantize=quantize, checkpoint=checkpoint, task="translate")

        ms = load_members(name_or_dir, load_one, ensemble)
        check_vocabularies(ms)
        m = ms[0]
        t = cls(m.model, m.src_tok, m.tgt_tok, m.config.search.updated(**search), m.device, m.shortlist,
                m.config, m.model_dir, [o.model for o in ms[1:]])
        t.model_dirs = [o.model_dir for o in ms]
        return t

    def language_model(self) -> torch.nn.Module | None:
        """The default search's fusion language model (search.lm), loaded now rather than at the first batch: a
        server or report refuses an LM of another vocabulary before it starts. None without fusion."""
        return fusion_lm(self.lms, self.search, self.device, self.tgt_tok)

    def translate(self, text: str | Sequence[str], **search) -> str | list[str]:
        """One string -> its translation; a list of strings -> a list of translations, in order."""
        if isinstance(text, str):
            return self.generate([text], **search)[0].text
        return [t.text for t in self.generate(text, **search)]

    def generate(self, texts: Sequence[str], return_attention: bool = False, warn: Callable[[str], None] | None = None,
                 progress: Callable[[int], None] | None = None, **search) -> list[Translation]:
        """One Translation (text, score, n-best, pieces, attention) per input, in order. Empty or whitespace-only
        inputs give empty outputs. `progress(n)` is called as each batch of n sentences is done."""
        s = self.search.updated(**search)
        texts = check_texts(texts)
        warn = warn or (lambda msg: warnings.warn(msg, stacklevel=3))
        results: list[Translation | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        for i, t in enumerate(texts):
            if not t.strip():
                results[i] = Translation("", 0.0, [("", 0.0)] * s.nbest, [], [])
        ids = self.src_tok.encode([texts[i] for i in todo]) if todo else []
        for j, seq in enumerate(ids):
            if len(seq) > self.max_src_tokens:
                warn(f"input line {todo[j] + 1} has {len(seq)} subword tokens; truncated to {self.max_src_tokens}")
                ids[j] = seq[: self.max_src_tokens]
        if progress and len(todo) < len(texts):
            progress(len(texts) - len(todo))
        order = sorted(range(len(ids)), key=lambda j: len(ids[j]))
        self.model.eval()
        for start in range(0, len(order), s.batch_size):
            chunk = order[start : start + s.batch_size]
            for j, res in zip(chunk, self._batch([ids[j] for j in chunk], s, return_attention)):
                results[todo[j]] = res
            if progress:
                progress(len(chunk))
        return results

    @torch.inference_mode()
    def _batch(self, ids: list[list[int]], s: SearchConfig, return_attention: bool) -> list[Translation]:
        lm = fusion_lm(self.lms, s, self.device, self.tgt_tok)
        batch = collate(ids).to(self.device)
        columns = own = None
        if self.shortlist is not None and s.shortlist:
            columns, own = self.shortlist.for_batch(batch.src)
        models = [self.model, *self.members]
        encs = [m.encode(batch.src, batch.src_lengths.to(self.device)) for m in models]
        stepper, enc = search_inputs(models, encs, lm, s.lm_weight, columns)
        hyp = decode(stepper, enc, batch.src_lengths, s.beam, s.alpha, s.nbest, s.max_len_ratio, s.max_len_offset,
                     return_attention, own, s.no_repeat_ngram)
        out = []
        for k, src in enumerate(ids):
            texts = self.tgt_tok.decode(hyp.tokens[k])
            # (T, S) cut to this sentence's own source (its pieces and EOS), not the batch's padded width
            attn = hyp.attention[k][0][:, : len(src) + 1] if hyp.attention is not None else None
            out.append(Translation(texts[0], hyp.scores[k][0], list(zip(texts, hyp.scores[k])),
                                   self.src_tok.pieces(src) + ["</s>"],
                                   self.tgt_tok.pieces(hyp.tokens[k][0]) + ["</s>"], attn))
        return out
