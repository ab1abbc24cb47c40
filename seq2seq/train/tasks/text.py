"""Translation's training task: parallel text, its token ids in a memory-mapped store (seq2seq.data.store), the
lexical shortlist; validation translates the source side."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from seq2seq.config import Config
from seq2seq.data import store
from seq2seq.data.batching import Batch, collate, token_batches
from seq2seq.data.corpus import count_pairs, pair_chunks
from seq2seq.data.store import PairStore
from seq2seq.decode.shortlist import FILE, FREQUENT, TOP, Shortlist
from seq2seq.errors import UserError
from seq2seq.metrics import bleu_tokenize
from seq2seq.modeldir import tokenizer_files
from seq2seq.train.distributed import Dist
from seq2seq.train.tasks.common import from_rank0, prepare_tokenizers
from seq2seq.train.validation import ValidMetric
from seq2seq.translate import Translator


class TextTask:
    """Translation: filtered subword pairs in a `PairStore` (seq2seq.data.store), memory-mapped from the corpus cache;
    validation translates the source side. Under torchrun rank 0 prepares (tokenizer, store, shortlist) and the
    other ranks take its tokenizer and shortlist, and the store from the cache."""

    shows_bleu = True

    def __init__(self, cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
        d, dist = cfg.data, dist or Dist()
        if not (d.train or d.train_src):
            raise UserError("no training data: set data.train_src and data.train_tgt (or data.train)")
        self.read = dict(src=d.train_src, tgt=d.train_tgt, table=d.train, src_key=d.src_lang, tgt_key=d.tgt_lang)
        self._checked: int | None = None
        self.limit, v_src, v_tgt = self._validation_pairs(cfg, log)
        self.cache = Path(d.cache_dir) if d.cache_dir else None
        if self.cache:  # the corpus's contents (wherever it lives), the part of it trained on, the data settings
            files = [f for f in (d.train_src, d.train_tgt, d.train) if f]
            self.corpus_id = store.key(store.fingerprint(files), self.limit, _settings(d))
        self.src_tok, self.tgt_tok = from_rank0(dist, lambda: self._tokenizers(cfg, model_dir))
        with dist.main_first():  # rank 0 fills the cache; the others then open it
            self.pairs = self._pairs(cfg)
        log(f"training data: {self.pairs.stats}")
        if not len(self.pairs):
            raise UserError("no training pairs left after filtering; check data.min_len/max_len/max_ratio")
        self.src, self.tgt = self.pairs.src, self.pairs.tgt
        self.valid_src_text, self.valid_refs, self.tgt_lang = v_src, [v_tgt], d.tgt_lang
        self.valid_src = [s[: d.max_len] for s in self.src_tok.encode(v_src)]
        self.valid_tgt = [t[: d.max_len] for t in self.tgt_tok.encode(v_tgt)]
        self.shortlist = dist.broadcast(self._shortlist(model_dir, log) if dist.main else None)

    def _validation_pairs(self, cfg: Config, log) -> tuple[int | None, list[str], list[str]]:
        """(how many training pairs to use, None: all; validation sources; references)."""
        d = cfg.data
        if d.valid or d.valid_src:  # read as the training pairs are (load_pairs' rules; text without datasets)
            chunks = list(pair_chunks(d.valid_src, d.valid_tgt, d.valid, d.src_lang, d.tgt_lang))
            v_src, v_tgt, limit = [s for c in chunks for s in c[0]], [t for c in chunks for t in c[1]], None
        else:  # hold out the last pairs of the training data, deterministically
            total = self._check()
            n = max(1, min(1000, total // 20))
            log(f"no validation data given: holding out the last {n} training pairs")
            tail = collections.deque((p for chunk in pair_chunks(**self.read) for p in zip(*chunk)), maxlen=n)
            v_src, v_tgt, limit = [s for s, _ in tail], [t for _, t in tail], total - n
        if d.max_valid:
            v_src, v_tgt = v_src[: d.max_valid], v_tgt[: d.max_valid]
        return limit, v_src, v_tgt

    def _check(self) -> int:
        """Read the whole corpus once, before anything is built from it: a bad line is one clear error here, not
        half a cache later; the number of pairs."""
        if self._checked is None:
            self._checked = count_pairs(**self.read)
        return self._checked

    def _side(self, k: int):
        """A function giving a new stream of one side's training sentences (k = 0 source, 1 target)."""
        return lambda: (text for chunk in pair_chunks(**self.read, limit=self.limit) for text in chunk[k])

    def _tokenizers(self, cfg: Config, model_dir: Path):
        d = cfg.data
        cache = self.cache / f"spm-{self.corpus_id}" if self.cache and not (d.spm_model or d.tgt_spm_model) else None
        if cache and not all((model_dir / n).is_file() for n in tokenizer_files(joint=cfg.data.joint_vocab)):
            with store.building(cache) as tmp:  # trained once per corpus and settings, by one process
                if tmp is not None:
                    self._check()
                    prepare_tokenizers(cfg, tmp, self._side(0), self._side(1))
        return prepare_tokenizers(cfg, model_dir, self._side(0), self._side(1), cache)

    def _pairs(self, cfg: Config) -> PairStore:
        d = cfg.data
        chunks = lambda: pair_chunks(**self.read, limit=self.limit)  # noqa: E731
        if self.cache is None:
            return PairStore.build(chunks(), self.src_tok, self.tgt_tok, d)
        tokenizers = [hashlib.sha256(t.to_bytes()).hexdigest() for t in (self.src_tok, self.tgt_tok)]
        folder = self.cache / f"pairs-{store.key(self.corpus_id, tokenizers, d.min_len, d.max_len, d.max_ratio)}"
        with store.building(folder) as tmp:
            if tmp is not None:
                self._check()
                PairStore.build(chunks(), self.src_tok, self.tgt_tok, d, tmp)
        found = PairStore.open(folder)
        if found is None:
            raise UserError(f"the corpus cache {folder} is damaged: delete that folder and train again")
        return found

    def _shortlist(self, model_dir: Path, log) -> Shortlist | None:
        """The run's lexical shortlist (seq2seq.decode.shortlist): loaded, from the corpus cache, or trained on the
        training pairs (seconds)."""
        found = Shortlist.for_model(model_dir, len(self.src_tok), len(self.tgt_tok))
        if found is not None:
            return found
        cached = self.pairs.folder / f"shortlist-{TOP}-{FREQUENT}" if self.pairs.folder else None
        try:
            shortlist = Shortlist.for_model(cached, len(self.src_tok), len(self.tgt_tok)) if cached else None
        except UserError:  # a damaged cache file: trained again
            shortlist = None
        if shortlist is None:
            try:
                shortlist = Shortlist.train(self.src, self.tgt, len(self.src_tok), len(self.tgt_tok))
            except UserError as e:
                log(f"no lexical shortlist: {e}")
                return None
            if cached:
                cached.mkdir(exist_ok=True)
                shortlist.save(cached)
        shortlist.save(model_dir)
        log(f"lexical shortlist: top {shortlist.lexicon.size(1)} targets per source piece + "
            f"{shortlist.frequent.numel()} most frequent -> {model_dir / FILE}")
        return shortlist

    def attach(self, model, device) -> None:
        pass

    def lengths(self) -> tuple[np.ndarray, np.ndarray]:
        return self.src.lengths(), self.tgt.lengths()

    def batch(self, idx) -> Batch:
        return collate([self.src[i] for i in idx], [self.tgt[i] for i in idx])

    def valid_batches(self, batch_tokens: int):
        for idx in token_batches([len(s) for s in self.valid_src], [len(t) for t in self.valid_tgt], batch_tokens):
            yield collate([self.valid_src[i] for i in idx], [self.valid_tgt[i] for i in idx])

    def valid_metric(self, requested: str, say) -> ValidMetric:
        """`auto`: BLEU, or exact match where most references are too short for it (seq2seq.train.validation)."""
        return ValidMetric(requested, self.valid_refs, say, bleu_tokenize(self.tgt_lang))

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        """Translations of the validation sources (of the `part` of them, for one rank's share)."""
        tr = Translator(model, self.src_tok, self.tgt_tok, search, device, shortlist=self.shortlist)
        return [t.text for t in tr.generate(self.valid_src_text[part], warn=lambda m: None)]


def _settings(d) -> dict:
    """The data settings a tokenizer and the tokenized pairs may depend on: all but the file names (their contents
    count instead), validation, images and filters (part of the pairs' key only): a setting added later is part
    of the cache key without anyone remembering to add it."""
    skip = {"train_src", "train_tgt", "train", "spm_model", "tgt_spm_model", "valid_src", "valid_tgt", "valid",
            "max_valid", "dataset", "root", "images_dir", "image_size", "feature_cache", "cache_dir", "min_len",
            "max_len", "max_ratio", "image_transform"}
    return {k: v for k, v in dataclasses.asdict(d).items() if k not in skip}
