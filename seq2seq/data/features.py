"""Frozen-backbone image features, computed once and cached on disk, so training epochs never rerun the CNN.

The cache key covers the backbone (name and weights), every image (path, size, modification time) and the
transform; any change makes a new cache file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from seq2seq.data.images import eval_transform, load_image, transform_key
from seq2seq.errors import UserError
from seq2seq.files import load, save


def cache_key(backbone_id: str, paths: list[Path], transform_id: str) -> str:
    h = hashlib.sha1(f"{backbone_id}|{transform_id}".encode())
    for p in paths:
        st = Path(p).stat()
        h.update(f"|{Path(p).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


@torch.no_grad()
def compute(encoder, paths: list[Path], image_size: int, device: torch.device, batch_size: int = 32,
            progress: bool = False, transform: str = "crop") -> torch.Tensor:
    """(n_images, N, C) float16 grid features of `paths` under the evaluation transform (crop | squash)."""
    tf = eval_transform(image_size, transform)
    out = []
    it = range(0, len(paths), batch_size)
    if progress:
        from tqdm import tqdm  # lazy: keeps start-up fast

        it = tqdm(it, desc="image features", unit="batch")
    encoder.eval()
    for i in it:
        images = torch.stack([tf(load_image(p)) for p in paths[i : i + batch_size]]).to(device)
        out.append(encoder.grid(images).half().cpu())  # (b, N, C)
    return torch.cat(out)


def cached(encoder, paths: list[Path], image_size: int, cache_dir: str | Path, backbone_id: str,
           device: torch.device, log=print, transform: str = "crop") -> tuple[torch.Tensor, bool]:
    """Features of `paths` from the cache, computing and storing them on a miss; returns (features, hit)."""
    key = cache_key(backbone_id, paths, transform_key(image_size, False, transform))
    file = Path(cache_dir) / f"{backbone_id.split('|')[0]}-{key}.pt"
    if file.is_file():
        try:
            feats = load(file, what="feature cache")  # tensors only: pickled code is refused
            if isinstance(feats, torch.Tensor) and feats.size(0) == len(paths):
                return feats, True
        except UserError as e:  # a damaged or refused cache file is recomputed and replaced
            log(f"{e}; recomputing it")
    log(f"computing image features for {len(paths):,} images (cached in {file})")
    feats = compute(encoder, paths, image_size, device, progress=log is not None and len(paths) > 256,
                    transform=transform)
    save(feats, file)
    return feats, False
