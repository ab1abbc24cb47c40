"""Trained weights out of a run and into another: `export` (a compact, servable copy, averaged or fp16) and
`init_from` (a new run borrowing a trained model's parameters)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from seq2seq.errors import UserError
from seq2seq.files import load, save
from seq2seq.hub import resolve
from seq2seq.modeldir import (
    BACKBONE_PREFIX,
    CONFIG,
    average,
    backbone_from_package,
    model_weights,
    read_config,
    share_equal,
    step_checkpoints,
    weights,
    weights_file,
)


def export(model_dir: Path, out: Path, average_last: int = 0, fp16: bool = True, search: list[str] = ()) -> Path:
    """A compact, servable copy: config.yaml, tokenizer(s) and model.pt (best.pt, or the average of the last N
    step checkpoints), in float16 unless asked otherwise. `search`: `search.KEY=VALUE` overrides of the copy's
    decoding defaults (only those: the other sections describe how the weights were made)."""
    for item in search:
        if not item.strip().startswith("search."):
            raise UserError(f"--set {item}: export changes decoding defaults only (search.KEY=VALUE); the data, "
                            f"model and train sections describe how the weights were made")
    cfg = read_config(model_dir, list(search))  # the overrides checked before any writing
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is an existing file; give a folder to write the model into")
    if out.exists() and out.resolve() == model_dir.resolve():
        raise UserError(f"--out {out} is the model directory itself; give a new folder")
    if average_last:
        steps = step_checkpoints(model_dir)[-average_last:]
        if len(steps) < average_last:
            raise UserError(f"{model_dir} has {len(steps)} step checkpoints, fewer than --average {average_last}")
        tensors = average(steps)
    else:
        tensors = model_weights(load(weights_file(model_dir)))
    if backbone_from_package(cfg):  # not copied: it ships in its package
        tensors = {k: v for k, v in tensors.items() if not k.startswith(BACKBONE_PREFIX)}
    if fp16:
        tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in tensors.items()}
    tensors = share_equal(tensors)
    extra = [f for f in ("log.jsonl", "shortlist.pt") if (model_dir / f).is_file()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        for f in [CONFIG, *(p.name for p in model_dir.glob("spm*.model")), *extra]:
            shutil.copyfile(model_dir / f, out / f)
        save(tensors, out / "model.pt")
        if search:
            cfg.save(out / CONFIG)
    except OSError as e:
        raise UserError(f"cannot write {e.filename or out}: {e.strerror or e}") from None
    return out


def init_from(model: torch.nn.Module, source: str | Path, parts: tuple[str, ...] = ("encoder", "decoder")):
    """Copy into `model` the weights of another model (a shipped name or a folder) for every parameter under
    `parts` (name prefixes) whose name and shape match: how a new run borrows, e.g., a trained English encoder.
    Returns the names copied and the names of `model` under `parts` left as they were."""
    source_dir = resolve(str(source))
    theirs = weights(source_dir)
    own = model.state_dict()
    wanted = [k for k in own if any(k == p or k.startswith(p + ".") for p in parts)]
    copied = [k for k in wanted if k in theirs and theirs[k].shape == own[k].shape]
    with torch.no_grad():
        for k in copied:
            own[k].copy_(theirs[k].to(own[k].dtype))
    return copied, [k for k in wanted if k not in copied]
