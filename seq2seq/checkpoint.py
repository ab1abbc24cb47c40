"""Checkpoints: atomic save (write, fsync, rename), load, and averaging of the last N.

A model directory holds `config.yaml`, its tokenizer(s), `best.pt` (best by `train.valid_metric`), `last.pt` (the full
training state for `--resume`), `step-*.pt` (weights, for averaging) and `log.jsonl`. Shipped models may
hold a single `model.pt` with fp16 weights.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

from seq2seq import UserError

WEIGHT_FILES = ("model.pt", "averaged.pt", "best.pt", "last.pt")
BACKBONE_PREFIX = "encoder.backbone."


def backbone_from_package(cfg) -> bool:
    """A frozen, pretrained backbone's weights are those of its package: exported models leave them out."""
    m = cfg.model
    return (m.encoder == "image" and m.backbone == "efficientnet_lite0" and m.pretrained and m.finetune_blocks == 0
            and m.backbone_weights is None)


class _Writes:
    """A file whose failed write is kept: torch.save reports a full disk as RuntimeError("unexpected pos ...")."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


@contextmanager
def _atomic(path: Path):
    """A binary file to write, in the same folder, that takes `path`'s name only once complete (fsync, rename):
    a crash or a full disk never leaves half a file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Bytes (or UTF-8 text) to `path` atomically."""
    with _atomic(Path(path)) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def save(obj: dict, path: str | Path) -> None:
    """torch.save, atomically. A failed write (full disk, ...) is raised as its OSError."""
    with _atomic(Path(path)) as f:
        out = _Writes(f)
        try:
            torch.save(obj, out)
        except RuntimeError:
            if out.error is None:
                raise
            raise out.error from None


def load(path: str | Path, map_location="cpu", what: str = "checkpoint", hint: str = "") -> dict:
    """torch.load of tensors and plain data only (weights_only=True): a file from elsewhere that carries pickled
    objects, which unpickling could let run code, is refused, never run. `what` names the file in the one-line
    errors, `hint` says how to fix an unreadable one."""
    import pickle
    import re

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        unsafe = isinstance(e, pickle.UnpicklingError) and re.search(r"GLOBAL ([\w.]+)", str(e))
        if unsafe:  # the weights-only unpickler met a class or function it does not allow
            raise UserError(f"refused to load {path}: it holds pickled Python objects ({unsafe[1]}), and unpickling "
                            f"them can run code; a {what} may hold only tensors, numbers, strings, lists and dicts"
                            ) from None
        raise UserError(f"{path}: not a readable {what} ({type(e).__name__}: truncated, or not written by "
                        f"torch.save){'; ' + hint if hint else ''}") from None


def weights_file(model_dir: Path) -> Path:
    """The weights a model directory serves: model.pt, else averaged.pt, else best.pt, else last.pt."""
    for name in WEIGHT_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    raise UserError(f"{model_dir} is not a model directory: it has none of {', '.join(WEIGHT_FILES)}")


def model_weights(ckpt: dict) -> dict[str, torch.Tensor]:
    """The float32 state dict, from a full training checkpoint or a weights-only file (fp16 allowed)."""
    sd = ckpt["model"] if "model" in ckpt else ckpt
    return {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}


def average(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the models' weights (checkpoint averaging)."""
    if not paths:
        raise UserError("no checkpoints to average")
    total = None
    for p in paths:
        sd = model_weights(load(p))
        if total is None:
            total = {k: v.clone() for k, v in sd.items()}
        else:
            for k, v in sd.items():
                if v.is_floating_point():
                    total[k] += v
    return {k: (v / len(paths) if v.is_floating_point() else v) for k, v in total.items()}


def step_checkpoints(model_dir: Path) -> list[Path]:
    """step-N.pt files, oldest first."""
    return sorted(model_dir.glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))


def share_equal(weights: dict) -> dict:
    """Equal tensors (tied and shared embeddings) made one storage, so that torch.save writes them once."""
    kept: dict[tuple, list[torch.Tensor]] = {}
    out = {}
    for k, v in weights.items():
        same = kept.setdefault((tuple(v.shape), v.dtype), [])
        match = next((u for u in same if torch.equal(u, v)), None)
        if match is None:
            same.append(v)
        out[k] = v if match is None else match
    return out


def export(model_dir: Path, out: Path, average_last: int = 0, fp16: bool = True, search: list[str] = ()) -> Path:
    """A compact, servable copy: config.yaml, tokenizer(s) and model.pt (best.pt, or the average of the last N
    step checkpoints), in float16 unless asked otherwise. `search`: `search.KEY=VALUE` overrides of the copy's
    decoding defaults (only those: the other sections describe how the weights were made)."""
    import shutil

    from seq2seq.config import load_config

    if not (model_dir / "config.yaml").is_file():
        raise UserError(f"{model_dir} is not a model directory: config.yaml is missing")
    for item in search:
        if not item.strip().startswith("search."):
            raise UserError(f"--set {item}: export changes decoding defaults only (search.KEY=VALUE); the data, "
                            f"model and train sections describe how the weights were made")
    cfg = load_config(model_dir / "config.yaml", list(search))  # the overrides checked before any writing
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is an existing file; give a folder to write the model into")
    if out.exists() and out.resolve() == model_dir.resolve():
        raise UserError(f"--out {out} is the model directory itself; give a new folder")
    if average_last:
        steps = step_checkpoints(model_dir)[-average_last:]
        if len(steps) < average_last:
            raise UserError(f"{model_dir} has {len(steps)} step checkpoints, fewer than --average {average_last}")
        weights = average(steps)
    else:
        weights = model_weights(load(weights_file(model_dir)))
    if backbone_from_package(cfg):  # not copied: it ships in its package
        weights = {k: v for k, v in weights.items() if not k.startswith(BACKBONE_PREFIX)}
    if fp16:
        weights = {k: (v.half() if v.is_floating_point() else v) for k, v in weights.items()}
    weights = share_equal(weights)
    extra = [f for f in ("log.jsonl", "shortlist.pt") if (model_dir / f).is_file()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        for f in ["config.yaml", *(p.name for p in model_dir.glob("spm*.model")), *extra]:
            shutil.copyfile(model_dir / f, out / f)
        save(weights, out / "model.pt")
        if search:
            cfg.save(out / "config.yaml")
    except OSError as e:
        raise UserError(f"cannot write {e.filename or out}: {e.strerror or e}") from None
    return out
