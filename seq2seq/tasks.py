"""What the one training loop needs to know about a task: its examples, batches, and validation decoding.

TextTask: parallel text (translation). CaptionTask: images with several captions each (captioning), the
images entering as cached backbone features, or as pixels when the backbone is fine-tuned.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seq2seq import UserError
from seq2seq.batching import Batch, collate, filter_pairs, pad, token_batches
from seq2seq.config import Config
from seq2seq.corpus import caption_table, flickr8k, load_pairs
from seq2seq.shortlist import FILE, Shortlist
from seq2seq.tokenizer import BOS, EOS, Tokenizer, install, load_pair


def prepare_tokenizers(cfg: Config, model_dir: Path, src_texts: list[str], tgt_texts: list[str]):
    """Load the model directory's tokenizer(s); install the configured ones or train new ones on first run."""
    d = cfg.data
    joint = d.joint_vocab or not src_texts
    src_file, tgt_file = (model_dir / "spm.model",) * 2 if joint else (
        model_dir / "spm.src.model", model_dir / "spm.tgt.model")
    if src_file.is_file() and tgt_file.is_file():
        return load_pair(model_dir)

    def train(texts, f, langs):
        return Tokenizer.train(texts, f, d.vocab_size, d.spm_type, d.character_coverage, langs)

    if joint:
        langs = (d.src_lang, d.tgt_lang)
        tok = install(d.spm_model, src_file, langs) if d.spm_model else train(src_texts + tgt_texts, src_file, langs)
        return tok, tok
    src_tok = install(d.spm_model, src_file, [d.src_lang]) if d.spm_model else train(src_texts, src_file,
                                                                                     [d.src_lang])
    tgt_tok = (install(d.tgt_spm_model, tgt_file, [d.tgt_lang]) if d.tgt_spm_model
               else train(tgt_texts, tgt_file, [d.tgt_lang]))
    return src_tok, tgt_tok


class TextTask:
    """Translation: filtered subword pairs; validation translates the source side."""

    def __init__(self, cfg: Config, model_dir: Path, log=print):
        d = cfg.data
        if not (d.train or d.train_src):
            raise UserError("no training data: set data.train_src and data.train_tgt (or data.train)")
        src_text, tgt_text = load_pairs(d.train_src, d.train_tgt, d.train, d.src_lang, d.tgt_lang)
        if d.valid or d.valid_src:
            v_src, v_tgt = load_pairs(d.valid_src, d.valid_tgt, d.valid, d.src_lang, d.tgt_lang)
        else:  # hold out a slice of the training data, deterministically
            n = max(1, min(1000, len(src_text) // 20))
            log(f"no validation data given: holding out the last {n} training pairs")
            v_src, v_tgt, src_text, tgt_text = src_text[-n:], tgt_text[-n:], src_text[:-n], tgt_text[:-n]
        if d.max_valid:
            v_src, v_tgt = v_src[: d.max_valid], v_tgt[: d.max_valid]
        self.src_tok, self.tgt_tok = prepare_tokenizers(cfg, model_dir, src_text, tgt_text)
        src_ids, tgt_ids = self.src_tok.encode(src_text), self.tgt_tok.encode(tgt_text)
        keep, stats = filter_pairs(src_ids, tgt_ids, d.min_len, d.max_len, d.max_ratio)
        log(f"training data: {stats}")
        if not keep:
            raise UserError("no training pairs left after filtering; check data.min_len/max_len/max_ratio")
        self.src, self.tgt = [src_ids[i] for i in keep], [tgt_ids[i] for i in keep]
        self.valid_src_text, self.valid_refs = v_src, [v_tgt]
        self.valid_src = [s[: d.max_len] for s in self.src_tok.encode(v_src)]
        self.valid_tgt = [t[: d.max_len] for t in self.tgt_tok.encode(v_tgt)]
        self.shortlist = self._shortlist(model_dir, log)

    def _shortlist(self, model_dir: Path, log) -> Shortlist | None:
        """The run's lexical shortlist (seq2seq.shortlist): loaded, or trained on the training pairs (seconds)."""
        found = Shortlist.for_model(model_dir, len(self.src_tok), len(self.tgt_tok))
        if found is not None:
            return found
        try:
            shortlist = Shortlist.train(self.src, self.tgt, len(self.src_tok), len(self.tgt_tok))
        except UserError as e:
            log(f"no lexical shortlist: {e}")
            return None
        shortlist.save(model_dir)
        log(f"lexical shortlist: top {shortlist.lexicon.size(1)} targets per source piece + "
            f"{shortlist.frequent.numel()} most frequent -> {model_dir / FILE}")
        return shortlist

    def attach(self, model, device) -> None:
        pass

    def lengths(self) -> tuple[list[int], list[int]]:
        return [len(s) for s in self.src], [len(t) for t in self.tgt]

    def batch(self, idx: list[int]) -> Batch:
        return collate([self.src[i] for i in idx], [self.tgt[i] for i in idx])

    def valid_batches(self, batch_tokens: int):
        for idx in token_batches([len(s) for s in self.valid_src], [len(t) for t in self.valid_tgt], batch_tokens):
            yield collate([self.valid_src[i] for i in idx], [self.valid_tgt[i] for i in idx])

    def decode_valid(self, model, search, device) -> list[str]:
        from seq2seq.translate import Translator

        tr = Translator(model, self.src_tok, self.tgt_tok, search, device, shortlist=self.shortlist)
        return [t.text for t in tr.generate(self.valid_src_text, warn=lambda m: None)]


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
    its captions. With a frozen backbone the images are cached features (n_images, N, C)."""

    def __init__(self, cfg: Config, model_dir: Path, log=print):
        self.cfg, self.log = cfg, log
        d = cfg.data
        self.train_paths, train_caps = load_captions(cfg, "train")
        self.valid_paths, valid_caps = load_captions(cfg, "val")
        if d.max_valid:
            self.valid_paths, valid_caps = self.valid_paths[: d.max_valid], valid_caps[: d.max_valid]
        _, self.tgt_tok = prepare_tokenizers(cfg, model_dir, [], [c for caps in train_caps for c in caps])
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
        self.valid_caps = valid_caps
        self.frozen = cfg.model.finetune_blocks == 0
        self.train_feats = self.valid_feats = None

    def attach(self, model, device) -> None:
        """Compute (or load from the cache) the frozen backbone's features of every image."""
        self.model_device = device
        if not self.frozen:
            return
        from seq2seq.features import cached

        import hashlib

        enc, m = model.encoder, self.cfg.model
        h = hashlib.sha1()  # the backbone's actual weights: a random or re-initialised net never reuses features
        for k, v in sorted(enc.backbone.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        backbone_id = f"{m.backbone}|{h.hexdigest()[:16]}"
        d = self.cfg.data
        args = (d.image_size, d.feature_cache, backbone_id, device, self.log, d.image_transform)
        self.train_feats, _ = cached(enc, self.train_paths, *args)
        self.valid_feats, _ = cached(enc, self.valid_paths, *args)

    def lengths(self) -> tuple[list[int], list[int]]:
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

    def decode_valid(self, model, search, device) -> list[str]:
        from seq2seq.caption import caption_sources

        sources = (self._source([i], False, True).src[0] for i in range(len(self.valid_paths)))
        return [c.text for c in caption_sources(model, self.tgt_tok, list(sources), search, device)]


def make_task(cfg: Config, model_dir: Path, log=print):
    return (CaptionTask if cfg.task == "caption" else TextTask)(cfg, model_dir, log)
