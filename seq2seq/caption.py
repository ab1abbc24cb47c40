"""Captioner: images -> image encoder -> the same decoder and search as translation -> detokenized captions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from seq2seq import UserError
from seq2seq.config import SearchConfig
from seq2seq.search import decode
from seq2seq.tokenizer import Tokenizer


@dataclass
class Caption:
    text: str
    score: float
    nbest: list[tuple[str, float]]
    tokens: list[str]
    attention: torch.Tensor | None = None  # (T, N) over the image grid, EOS step included


@torch.inference_mode()
def caption_sources(model, tok: Tokenizer, sources: list[torch.Tensor], search: SearchConfig,
                    device: torch.device, return_attention: bool = False) -> list[Caption]:
    """Caption a list of encoder inputs: cached features (N, C) or transformed images (3, H, W)."""
    model.eval()
    out: list[Caption] = []
    for s in range(0, len(sources), search.batch_size):
        x = torch.stack(sources[s : s + search.batch_size]).to(device).float()
        lengths = torch.ones(x.size(0), dtype=torch.long)
        enc = model.encode(x, lengths)
        hyp = decode(model.decoder, enc, lengths, search.beam, search.alpha, search.nbest, search.max_len_ratio,
                     search.max_len_offset, return_attention)
        for k in range(x.size(0)):
            texts = tok.decode(hyp.tokens[k])
            attn = hyp.attention[k][0] if hyp.attention is not None else None
            out.append(Caption(texts[0], hyp.scores[k][0], list(zip(texts, hyp.scores[k])),
                               tok.pieces(hyp.tokens[k][0]) + ["</s>"], attn))
    return out


class Captioner:
    """Captions image files with a trained captioning model directory."""

    def __init__(self, model, tok: Tokenizer, search: SearchConfig, device: torch.device, image_size: int = 224):
        self.model, self.tok, self.search, self.device, self.image_size = model, tok, search, device, image_size

    @classmethod
    def from_dir(cls, model_dir: str | Path, device: str = "auto", **search_overrides) -> "Captioner":
        from seq2seq.translate import load_model_dir, resolve_device

        dev = resolve_device(device)
        cfg, model, _, tok = load_model_dir(model_dir, dev)
        if cfg.model.encoder != "image":
            raise UserError(f"{model_dir} is a translation model, not a captioning model")
        search = replace(cfg.search, **{k: v for k, v in search_overrides.items() if v is not None})
        search.validate()
        c = cls(model, tok, search, dev, cfg.data.image_size)
        c.config, c.model_dir = cfg, Path(model_dir)
        return c

    def caption_images(self, images, return_attention: bool = False) -> list[Caption]:
        """Captions of PIL images (already loaded and checked)."""
        from seq2seq.images import eval_transform

        tf = eval_transform(self.image_size)
        return caption_sources(self.model, self.tok, [tf(im) for im in images], self.search, self.device,
                               return_attention)

    def caption_files(self, paths: list[str | Path]) -> list[Caption | UserError]:
        """One result per path, in order: a Caption, or the error that file gave (the others still run)."""
        from seq2seq.images import load_image

        loaded: dict[int, object] = {}
        results: list[Caption | UserError] = [None] * len(paths)  # type: ignore[list-item]
        for i, p in enumerate(paths):
            try:
                loaded[i] = load_image(p)
            except UserError as e:
                results[i] = e
        caps = self.caption_images(list(loaded.values())) if loaded else []
        for i, c in zip(loaded, caps):
            results[i] = c
        return results
