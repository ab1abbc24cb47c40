"""What the one training loop needs to know about a task: its examples, batches, and validation decoding.

TextTask: parallel text (translation), its token ids in a memory-mapped store (seq2seq.store). CaptionTask:
images with several captions each (captioning), the images entering as cached backbone features, or as pixels
when the backbone is fine-tuned. LMTask (seq2seq.monolingual): monolingual text for a language model. Under
torchrun, rank 0 prepares what is shared and the other ranks receive it.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
from pathlib import Path

import numpy as np
import torch

from seq2seq import UserError, store
from seq2seq.batching import Batch, collate, pad, token_batches
from seq2seq.config import Config
from seq2seq.corpus import caption_table, count_pairs, flickr8k, pair_chunks
from seq2seq.distributed import Dist
from seq2seq.shortlist import FILE, FREQUENT, TOP, Shortlist
from seq2seq.store import PairStore
from seq2seq.tokenizer import BOS, EOS, Tokenizer, install, load_pair


def tokenizer_files(cfg: Config, has_source: bool = True) -> tuple[str, str]:
    """The file names of a model directory's source and target tokenizers (the same one when joint)."""
    return ("spm.model",) * 2 if cfg.data.joint_vocab or not has_source else ("spm.src.model", "spm.tgt.model")


def prepare_tokenizers(cfg: Config, model_dir: Path, src_texts, tgt_texts, cache: Path | None = None):
    """Load the model directory's tokenizer(s); install the configured ones, or those in `cache` (a folder), or
    train new ones on first run. `src_texts`/`tgt_texts`: lists, or functions that return a new iterator over
    a side (a corpus streamed from disk)."""
    d = cfg.data
    names = tokenizer_files(cfg, bool(src_texts))
    if all((model_dir / n).is_file() for n in names):
        return load_pair(model_dir)
    joint = names[0] == names[1]
    langs = ((d.src_lang, d.tgt_lang),) * 2 if joint else ((d.src_lang,), (d.tgt_lang,))
    if cache is not None and all((cache / n).is_file() for n in names):
        src_tok = install(cache / names[0], model_dir / names[0], langs[0])
        return (src_tok, src_tok if joint else install(cache / names[1], model_dir / names[1], langs[1]))
    stream = lambda texts: texts() if callable(texts) else iter(texts)  # noqa: E731
    train = lambda texts, i: Tokenizer.train(texts, model_dir / names[i], d.vocab_size, d.spm_type,  # noqa: E731
                                             d.character_coverage, d.spm_sample, langs[i])
    if joint:
        tok = install(d.spm_model, model_dir / names[0], langs[0]) if d.spm_model else train(
            itertools.chain(stream(src_texts), stream(tgt_texts)), 0)
        return tok, tok
    src_tok = install(d.spm_model, model_dir / names[0], langs[0]) if d.spm_model else train(stream(src_texts), 0)
    tgt_tok = install(d.tgt_spm_model, model_dir / names[1], langs[1]) if d.tgt_spm_model else train(
        stream(tgt_texts), 1)
    return src_tok, tgt_tok


def _from_rank0(dist: Dist, make) -> tuple[Tokenizer, Tokenizer]:
    """The tokenizers `make()` gives on rank 0 (the only rank that runs it), on every rank."""
    toks = make() if dist.main else None
    data = dist.broadcast(toks and tuple((t.to_bytes(), t.path, t.langs) for t in toks))
    if toks is None:
        src = Tokenizer.from_bytes(*data[0])
        toks = (src, src) if data[0] == data[1] else (src, Tokenizer.from_bytes(*data[1]))
    return toks


class TextTask:
    """Translation: filtered subword pairs in a `PairStore` (seq2seq.store), memory-mapped from the corpus cache;
    validation translates the source side. Under torchrun rank 0 prepares (tokenizer, store, shortlist) and the
    other ranks take its tokenizer and shortlist, and the store from the cache."""

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
        self.src_tok, self.tgt_tok = _from_rank0(dist, lambda: self._tokenizers(cfg, model_dir))
        with dist.main_first():  # rank 0 fills the cache; the others then open it
            self.pairs = self._pairs(cfg)
        log(f"training data: {self.pairs.stats}")
        if not len(self.pairs):
            raise UserError("no training pairs left after filtering; check data.min_len/max_len/max_ratio")
        self.src, self.tgt = self.pairs.src, self.pairs.tgt
        self.valid_src_text, self.valid_refs = v_src, [v_tgt]
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
        if cache and not all((model_dir / n).is_file() for n in tokenizer_files(cfg)):
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
        """The run's lexical shortlist (seq2seq.shortlist): loaded, from the corpus cache, or trained on the
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

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        """Translations of the validation sources (of the `part` of them, for one rank's share)."""
        from seq2seq.translate import Translator

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


def load_captions(cfg: Config, split: str) -> tuple[list[Path], list[list[str]]]:
    d = cfg.data
    if d.dataset == "flickr8k":
        return flickr8k(split, d.root)
    table = d.train if split == "train" else d.valid
    if table is None:
        raise UserError(f"captioning needs data.dataset (flickr8k) or data.{split} (a TSV of image<TAB>caption)")
    return caption_table(table, d.images_dir)


class CaptionTask:
    """Captioning: one example per (image, caption); validation decodes each image once, scored against all
    its captions. With a frozen backbone the images are cached features (n_images, N, C). Under self-critical
    training (seq2seq.scst) an example is an image, which counts as its train.scst_samples sampled captions."""

    def __init__(self, cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
        self.cfg, self.log, self.dist = cfg, log, dist or Dist()
        d = cfg.data
        self.train_paths, train_caps = load_captions(cfg, "train")
        self.valid_paths, valid_caps = load_captions(cfg, "val")
        if d.max_valid:
            self.valid_paths, valid_caps = self.valid_paths[: d.max_valid], valid_caps[: d.max_valid]
        _, self.tgt_tok = _from_rank0(self.dist, lambda: prepare_tokenizers(cfg, model_dir, [], [
            c for caps in train_caps for c in caps]))
        self.src_tok = self.tgt_tok
        self.image_of, self.tgt = [], []
        for i, caps in enumerate(train_caps):
            for ids in self.tgt_tok.encode(caps):
                if 1 <= len(ids) <= d.max_len:
                    self.image_of.append(i)
                    self.tgt.append(ids)
        log(f"training data: {len(self.tgt):,} captions of {len(self.train_paths):,} images")
        n_refs = max(len(c) for c in valid_caps)
        self.valid_refs = [[caps[k] if k < len(caps) else caps[0] for caps in valid_caps] for k in range(n_refs)]
        self.train_caps, self.valid_caps = train_caps, valid_caps
        self.scst = cfg.train.scst_samples if cfg.train.objective == "scst" else 0
        self.frozen = cfg.model.finetune_blocks == 0
        self.train_feats = self.valid_feats = None

    def attach(self, model, device) -> None:
        """Compute (or load from the cache) the frozen backbone's features of every image."""
        self.model_device = device
        if not self.frozen:
            return
        from seq2seq.features import cached

        enc, m = model.encoder, self.cfg.model
        h = hashlib.sha1()  # the backbone's actual weights: a random or re-initialised net never reuses features
        for k, v in sorted(enc.backbone.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        backbone_id = f"{m.backbone}|{h.hexdigest()[:16]}"
        d = self.cfg.data
        args = (d.image_size, d.feature_cache, backbone_id, device, self.log, d.image_transform)
        with self.dist.main_first():  # rank 0 computes and caches them; the others load them
            self.train_feats, _ = cached(enc, self.train_paths, *args)
            self.valid_feats, _ = cached(enc, self.valid_paths, *args)

    def lengths(self) -> tuple[list[int], list[int]]:
        if self.scst:  # an image, whose K samples are its targets (the Trainer adds one: K - 1 + 1)
            return [1] * len(self.train_paths), [self.scst - 1] * len(self.train_paths)
        return [1] * len(self.tgt), [len(t) for t in self.tgt]

    def _images(self, paths: list[Path], train: bool) -> torch.Tensor:
        from seq2seq.images import eval_transform, load_image, train_transform

        tf = (train_transform if train else eval_transform)(self.cfg.data.image_size, self.cfg.data.image_transform)
        return torch.stack([tf(load_image(p)) for p in paths])  # (B, 3, H, W)

    def _source(self, image_idx: list[int], train: bool, valid: bool = False) -> Batch:
        if self.frozen:
            src = (self.valid_feats if valid else self.train_feats)[image_idx].float()  # (B, N, C)
        else:
            src = self._images([(self.valid_paths if valid else self.train_paths)[i] for i in image_idx], train)
        return Batch(src, torch.full((len(image_idx),), 1, dtype=torch.long))

    def batch(self, idx: list[int]) -> Batch:
        if self.scst:  # images: the SCST objective samples their captions
            b = self._source([int(i) for i in idx], train=True)
            b.index = torch.as_tensor(idx, dtype=torch.long)
            return b
        b = self._source([self.image_of[i] for i in idx], train=True)
        b.tgt_in = pad([[BOS] + self.tgt[i] for i in idx])
        b.tgt_out = pad([self.tgt[i] + [EOS] for i in idx])
        return b

    def valid_batches(self, batch_tokens: int):
        pairs = [(i, ids) for i, caps in enumerate(self.valid_caps) for ids in self.tgt_tok.encode(caps[:1])]
        size = max(1, batch_tokens // 20)
        for s in range(0, len(pairs), size):
            chunk = pairs[s : s + size]
            b = self._source([i for i, _ in chunk], train=False, valid=True)
            b.tgt_in = pad([[BOS] + ids for _, ids in chunk])
            b.tgt_out = pad([ids + [EOS] for _, ids in chunk])
            yield b

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        """Captions of the validation images (of the `part` of them, for one rank's share)."""
        from seq2seq.caption import caption_sources

        sources = (self._source([i], False, True).src[0] for i in range(len(self.valid_paths))[part])
        return [c.text for c in caption_sources([model], self.tgt_tok, list(sources), search, device)]


def make_task(cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
    if cfg.task == "lm":
        from seq2seq.monolingual import LMTask

        return LMTask(cfg, model_dir, log, dist)
    return (CaptionTask if cfg.task == "caption" else TextTask)(cfg, model_dir, log, dist)
