"""Captioner: images -> image encoder -> the same decoder and search as translation -> detokenized captions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import torch

from seq2seq.config import SearchConfig
from seq2seq.data.images import eval_transform, load_image, region
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.decode.combine import search_inputs
from seq2seq.decode.search import decode
from seq2seq.errors import UserError
from seq2seq.inputs import as_rgb
from seq2seq.loading import check_vocabularies, fusion_lm, load, load_members

ImageLike = Union[str, Path, bytes, "PIL.Image.Image"]  # noqa: F821


@dataclass
class Caption:
    text: str
    score: float
    nbest: list[tuple[str, float]]
    tokens: list[str]
    attention: torch.Tensor | None = None  # (T, N) over the image grid, EOS step included
    region: tuple[int, int, int, int] | None = None  # (left, top, width, height) of the upright image the model saw


@torch.inference_mode()
def caption_sources(models: Sequence[torch.nn.Module], tok: Tokenizer, sources: list[torch.Tensor],
                    search: SearchConfig, device: torch.device, return_attention: bool = False,
                    progress: Callable[[int], None] | None = None, lms: dict | None = None) -> list[Caption]:
    """Caption a list of encoder inputs with one model or an ensemble of several (log-probabilities averaged at
    every step; the attention is the first model's): transformed images (3, H, W), or cached features (N, C) of
    the one backbone they share. With search.lm and lm_weight, shallow fusion with that language model (loaded
    into `lms`, a cache)."""
    lm = fusion_lm({} if lms is None else lms, search, device, tok)
    for m in models:
        m.eval()
    out: list[Caption] = []
    for s in range(0, len(sources), search.batch_size):
        x = torch.stack(sources[s : s + search.batch_size]).to(device).float()
        lengths = torch.ones(x.size(0), dtype=torch.long)
        stepper, enc = search_inputs(list(models), _encode(models, x), lm, search.lm_weight, attend=0)
        hyp = decode(stepper, enc, lengths, search.beam, search.alpha, search.nbest,
                     search.max_len_ratio, search.max_len_offset, return_attention,
                     no_repeat_ngram=search.no_repeat_ngram)
        for k in range(x.size(0)):
            texts = tok.decode(hyp.tokens[k])
            attn = hyp.attention[k][0] if hyp.attention is not None else None
            out.append(Caption(texts[0], hyp.scores[k][0], list(zip(texts, hyp.scores[k])),
                               tok.pieces(hyp.tokens[k][0]) + ["</s>"], attn))
        if progress:
            progress(x.size(0))
    return out


def _encode(models: Sequence[torch.nn.Module], x: torch.Tensor) -> list:
    """Each model's encoder output for images (B, 3, S, S) or features (B, N, C); a backbone that several models
    share (see `share_backbones`) runs once."""
    if x.dim() == 3:
        return [m.encoder.encode_features(x) for m in models]
    grids: dict[int, torch.Tensor] = {}
    for m in models:
        backbone = m.encoder.backbone
        if id(backbone) not in grids:
            grids[id(backbone)] = m.encoder.grid(x)  # (B, N, C)
    return [m.encoder.encode_features(grids[id(m.encoder.backbone)]) for m in models]


def share_backbones(models: Sequence[torch.nn.Module]) -> None:
    """Models whose backbones are equal (same kind, same weights: frozen from the same pretrained ones) are made to
    hold one of them, so an ensemble computes each image's feature grid once per distinct backbone."""
    for i, m in enumerate(models):
        mine = m.encoder.backbone.state_dict()
        for earlier in models[:i]:
            theirs = earlier.encoder.backbone.state_dict()
            if (type(m.encoder.backbone) is type(earlier.encoder.backbone) and mine.keys() == theirs.keys()
                    and all(torch.equal(mine[k], theirs[k]) for k in mine)):
                m.encoder.backbone = earlier.encoder.backbone
                break


class Captioner:
    """A captioning model (or an ensemble of several) ready to decode; `search` holds default settings, each call
    may change them."""

    def __init__(self, model, tok: Tokenizer, search: SearchConfig | None = None, device: torch.device | str = "cpu",
                 image_size: int = 224, config=None, model_dir: Path | None = None, image_transform: str = "crop",
                 members: Sequence[torch.nn.Module] = ()):
        self.model, self.tok, self.search = model, tok, search or SearchConfig()
        self.members = list(members)  # more captioners of the same vocabulary and images: an ensemble with `model`
        self.device, self.image_size, self.image_transform = torch.device(device), image_size, image_transform
        self.config, self.model_dir = config, model_dir
        self.model_dirs = [model_dir] if model_dir is not None else []  # every member's folder, `model_dir` first
        self.lms: dict = {}  # shallow fusion's language models (search.lm), loaded on first use

    @classmethod
    def load(cls, name_or_dir: str | Path | Sequence[str | Path], device: str = "auto", *,
             checkpoint: str | None = None, ensemble: bool = True, **search) -> "Captioner":
        """A shipped captioner by name or any captioning model directory, or a list of them: an ensemble (see
        `Translator.load`), whose captions' attention is the first model's. Its members must share their
        sentencepiece model, and see the same image tensor: the same data.image_size and data.image_transform
        (they are refused otherwise; their backbones may differ, and equal ones run once). A captioner loaded
        alone whose config names members (search.ensemble) is that ensemble unless `ensemble=False`."""
        def load_one(name, checkpoint=checkpoint):
            return load(name, device, checkpoint=checkpoint, task="caption")

        ms = load_members(name_or_dir, load_one, ensemble)
        check_vocabularies(ms)
        m, d = ms[0], ms[0].config.data
        for other in ms[1:]:
            o = other.config.data
            if (o.image_size, o.image_transform) != (d.image_size, d.image_transform):
                raise UserError(f"{other.model_dir} sees {o.image_size}px images ({o.image_transform}) but "
                                f"{m.model_dir} sees {d.image_size}px ({d.image_transform}): an ensemble's "
                                f"captioners need the same data.image_size and data.image_transform")
        share_backbones([o.model for o in ms])
        c = cls(m.model, m.tgt_tok, m.config.search.updated(**search), m.device, d.image_size, m.config,
                m.model_dir, d.image_transform, [o.model for o in ms[1:]])
        c.model_dirs = [o.model_dir for o in ms]
        return c

    def language_model(self) -> torch.nn.Module | None:
        """The default search's fusion language model, loaded now (see `Translator.language_model`)."""
        return fusion_lm(self.lms, self.search, self.device, self.tok)

    def caption(self, image: ImageLike | Sequence[ImageLike], **search) -> str | list[str]:
        """One image (a path, bytes or a PIL image of any mode) -> its caption; a list -> a list of captions."""
        if isinstance(image, (list, tuple)):
            return [c.text for c in self.generate(image, **search)]
        return self.generate([image], **search)[0].text

    def generate(self, images: Sequence[ImageLike], return_attention: bool = False,
                 progress: Callable[[int], None] | None = None, **search) -> list[Caption]:
        """One Caption (text, score, n-best, tokens, attention over the image grid, region seen) per image, in
        order. Each image is resized as the model's training images were (`data.image_transform`)."""
        s = self.search.updated(**search)
        size, transform = self.image_size, self.image_transform
        tf = eval_transform(size, transform)
        sources, regions = [], []
        for i, im in enumerate(images):
            im = as_rgb(im, i)
            sources.append(tf(im))  # (3, S, S)
            regions.append(region(*im.size, size, transform))
        out = caption_sources([self.model, *self.members], self.tok, sources, s, self.device, return_attention,
                              progress, self.lms)
        for c, r in zip(out, regions):
            c.region = r
        return out

    def caption_files(self, paths: Sequence[str | Path], progress: Callable[[int], None] | None = None,
                      **search) -> list[Caption | UserError]:
        """One result per path, in order: a Caption, or the error that file gave (the others still run)."""
        loaded: dict[int, object] = {}
        results: list[Caption | UserError] = [None] * len(paths)  # type: ignore[list-item]
        for i, p in enumerate(paths):
            try:
                loaded[i] = load_image(p)
            except UserError as e:
                results[i] = e
        if progress and len(loaded) < len(paths):
            progress(len(paths) - len(loaded))
        caps = self.generate(list(loaded.values()), progress=progress, **search) if loaded else []
        for i, c in zip(loaded, caps):
            results[i] = c
        return results
