"""A model folder: the names of its files, its task, and the weights it serves.

A model folder holds config.yaml, its sentencepiece model(s) (spm.model, or spm.src.model and spm.tgt.model),
card.md and its weights: model.pt (fp16, shipped) or a training run's best.pt, last.pt (the full training state
for --resume), step-N.pt (for averaging) and log.jsonl.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seq2seq.config import Config, load_config
from seq2seq.errors import UserError
from seq2seq.files import load

CONFIG = "config.yaml"
CARD = "card.md"
SPM_JOINT, SPM_SRC, SPM_TGT = "spm.model", "spm.src.model", "spm.tgt.model"
WEIGHT_FILES = ("model.pt", "averaged.pt", "best.pt", "last.pt")
CHECKPOINTS = ("best", "last", "average")  # what --checkpoint can pick in a training run's directory
BACKBONE_PREFIX = "encoder.backbone."


def config_file(model_dir: str | Path) -> Path:
    """A model folder's config.yaml; a folder without one is a UserError."""
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise UserError(f"{model_dir} is not a model directory: {CONFIG} is missing")
    return path


def read_config(model_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """A model folder's validated config (with `--set` style overrides)."""
    return load_config(config_file(model_dir), overrides)


def model_task(model_dir: str | Path) -> str:
    """'translate', 'caption' or 'lm', from a model directory's config.yaml."""
    return read_config(model_dir).task


def tokenizer_files(joint: bool) -> tuple[str, str]:
    """The file names of a model folder's source and target sentencepiece models (one file when joint)."""
    return (SPM_JOINT, SPM_JOINT) if joint else (SPM_SRC, SPM_TGT)


def backbone_from_package(cfg) -> bool:
    """A frozen, pretrained backbone's weights are those of its package: exported models leave them out."""
    m = cfg.model
    return (m.encoder == "image" and m.backbone == "efficientnet_lite0" and m.pretrained and m.finetune_blocks == 0
            and m.backbone_weights is None)


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


def weights(model_dir: Path, checkpoint: str | None = None) -> dict[str, torch.Tensor]:
    """The weights a model directory serves: by default model.pt, else averaged.pt, best.pt, last.pt; or the
    `checkpoint` asked for: best.pt, last.pt, or the average of the step-N.pt checkpoints."""
    if checkpoint is None:
        return model_weights(load(weights_file(model_dir)))
    if checkpoint not in CHECKPOINTS:
        raise UserError(f"unknown checkpoint {checkpoint!r}; use one of {', '.join(CHECKPOINTS)}")
    if checkpoint == "average":
        steps = step_checkpoints(model_dir)
        if not steps:
            raise UserError(f"--checkpoint average: {model_dir} has no step-N.pt checkpoints to average")
        return average(steps)
    path = model_dir / f"{checkpoint}.pt"
    if not path.is_file():
        raise UserError(f"--checkpoint {checkpoint}: {path} does not exist (only a training run's directory has "
                        f"best.pt and last.pt)")
    return model_weights(load(path))
