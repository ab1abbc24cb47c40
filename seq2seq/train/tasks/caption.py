"""Captioning's training task: images with several captions each, entering as cached backbone features (a frozen
backbone) or as pixels (fine-tuned); validation captions each image once, scored against all its captions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from seq2seq.caption import caption_sources
from seq2seq.config import Config
from seq2seq.data.batching import Batch, teacher_forcing
from seq2seq.data.corpus import caption_table, flickr8k
from seq2seq.data.features import cached
from seq2seq.data.images import eval_transform, load_image, train_transform
from seq2seq.errors import UserError
from seq2seq.metrics import bleu_tokenize
from seq2seq.train.distributed import Dist
from seq2seq.train.tasks.common import from_rank0, prepare_tokenizers
from seq2seq.train.validation import ValidMetric


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
    training (seq2seq.train.scst) an example is an image, which counts as its train.scst_samples sampled captions."""

    shows_bleu = True

    def __init__(self, cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
        self.cfg, self.log, self.dist = cfg, log, dist or Dist()
        d = cfg.data
        self.train_paths, train_caps = load_captions(cfg, "train")
        self.valid_paths, valid_caps = load_captions(cfg, "val")
        if d.max_valid:
            self.valid_paths, valid_caps = self.valid_paths[: d.max_valid], valid_caps[: d.max_valid]
        _, self.tgt_tok = from_rank0(self.dist, lambda: prepare_tokenizers(cfg, model_dir, [], [
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
        b.tgt_in, b.tgt_out = teacher_forcing([self.tgt[i] for i in idx])
        return b

    def valid_batches(self, batch_tokens: int):
        pairs = [(i, ids) for i, caps in enumerate(self.valid_caps) for ids in self.tgt_tok.encode(caps[:1])]
        size = max(1, batch_tokens // 20)
        for s in range(0, len(pairs), size):
            chunk = pairs[s : s + size]
            b = self._source([i for i, _ in chunk], train=False, valid=True)
            b.tgt_in, b.tgt_out = teacher_forcing([ids for _, ids in chunk])
            yield b

    def valid_metric(self, requested: str, say) -> ValidMetric:
        """`auto`: CIDEr-D under self-critical training, which optimises it; else as for text (BLEU or exact)."""
        if requested == "auto" and self.scst:
            say("validation metric: cider (train.valid_metric=auto with train.objective=scst, which optimises it)")
            requested = "cider"
        return ValidMetric(requested, self.valid_refs, say, bleu_tokenize(self.cfg.data.tgt_lang),
                           items=self.valid_caps)

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        """Captions of the validation images (of the `part` of them, for one rank's share)."""
        sources = (self._source([i], False, True).src[0] for i in range(len(self.valid_paths))[part])
        return [c.text for c in caption_sources([model], self.tgt_tok, list(sources), search, device)]
