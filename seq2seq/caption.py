"""Captioner: images -> image encoder -> the same decoder and search as translation -> detokenized captions."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence, Union

import torch

from seq2seq.config import SearchConfig
from seq2seq.data.images import eval_transform, load_image, region
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.engine import Encoded, Engine, Result
from seq2seq.errors import UserError
from seq2seq.inputs import as_rgb
from seq2seq.loading import Loaded

ImageLike = Union[str, Path, bytes, "PIL.Image.Image"]  # noqa: F821
Caption = Result  # the name captions' results had


def caption_sources(models: Sequence[torch.nn.Module], tok: Tokenizer, sources: list[torch.Tensor],
                    search: SearchConfig, device: torch.device, return_attention: bool = False,
                    progress: Callable[[int], None] | None = None, lms: dict | None = None) -> list[Result]:
    """Caption a list of encoder inputs with one model or an ensemble of several (log-probabilities averaged at
    every step; the attention is the first model's): transformed images (3, H, W), or cached features (N, C) of
    the one backbone they share. With search.lm and lm_weight, shallow fusion with that language model (loaded
    into `lms`, a cache)."""
    captioner = Captioner(models[0], tok, search, device, members=models[1:])
    if lms is not None:
        captioner.lms = lms
    return captioner.decode_batches(sources, captioner._encode, search, return_attention, progress)


def _encoder_outputs(models: Sequence[torch.nn.Module], x: torch.Tensor) -> list:
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


class Captioner(Engine):
    """A captioning model (or an ensemble of several) ready to decode; `search` holds default settings, each call
    may change them. `load` as for Translator: an ensemble's members must share their sentencepiece model and see
    the same image tensor (data.image_size and data.image_transform; their backbones may differ, equal ones run
    once), and its captions' attention is the first model's."""

    task = "caption"
    attend = 0  # (T, N) over the first model's image grid
    quantizable = False  # the image encoder reads its projection's float weights

    def __init__(self, model, tok: Tokenizer, search: SearchConfig | None = None, device: torch.device | str = "cpu",
                 image_size: int = 224, config=None, model_dir: Path | None = None, image_transform: str = "crop",
                 members: Sequence[torch.nn.Module] = ()):
        super().__init__(model, tok, search, device, config, model_dir, members)
        self.image_size, self.image_transform = image_size, image_transform

    @classmethod
    def from_loaded(cls, loaded: list[Loaded], search: SearchConfig) -> Captioner:
        m, d = loaded[0], loaded[0].config.data
        for other in loaded[1:]:
            o = other.config.data
            if (o.image_size, o.image_transform) != (d.image_size, d.image_transform):
                raise UserError(f"{other.model_dir} sees {o.image_size}px images ({o.image_transform}) but "
                                f"{m.model_dir} sees {d.image_size}px ({d.image_transform}): an ensemble's "
                                f"captioners need the same data.image_size and data.image_transform")
        share_backbones([o.model for o in loaded])
        return cls(m.model, m.tgt_tok, search, m.device, d.image_size, m.config, m.model_dir, d.image_transform,
                   [o.model for o in loaded[1:]])

    def caption(self, image: ImageLike | Sequence[ImageLike], **search) -> str | list[str]:
        """One image (a path, bytes or a PIL image of any mode) -> its caption; a list -> a list of captions."""
        if isinstance(image, (list, tuple)):
            return [c.text for c in self.generate(image, **search)]
        return self.generate([image], **search)[0].text

    def generate(self, images: Sequence[ImageLike], return_attention: bool = False,
                 progress: Callable[[int], None] | None = None, **search) -> list[Result]:
        """One Result (text, score, n-best, pieces, attention over the image grid, region seen) per image, in
        order. Each image is resized as the model's training images were (`data.image_transform`)."""
        s = self.search.updated(**search)
        size, transform = self.image_size, self.image_transform
        tf = eval_transform(size, transform)
        sources, regions = [], []
        for i, im in enumerate(images):
            im = as_rgb(im, i)
            sources.append(tf(im))  # (3, S, S)
            regions.append(region(*im.size, size, transform))
        out = self.decode_batches(sources, self._encode, s, return_attention, progress)
        for c, r in zip(out, regions):
            c.region = r
        return out

    def _encode(self, sources: list[torch.Tensor], s: SearchConfig) -> Encoded:
        """Transformed images (3, S, S) or cached features (N, C) -> each model's encoder output. Each image counts
        as a source of length 1: every caption's length cap is max_len_ratio + max_len_offset."""
        x = torch.stack(sources).to(self.device).float()
        return Encoded(_encoder_outputs(self.models, x), torch.ones(x.size(0), dtype=torch.long))

    def caption_files(self, paths: Sequence[str | Path], progress: Callable[[int], None] | None = None,
                      **search) -> list[Result | UserError]:
        """One result per path, in order: a Result, or the error that file gave (the others still run)."""
        loaded: dict[int, object] = {}
        results: list[Result | UserError] = [None] * len(paths)  # type: ignore[list-item]
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

    decode_files = caption_files  # the name every file-reading API shares (the CLI's)
