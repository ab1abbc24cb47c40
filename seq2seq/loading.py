"""From a model's name or directory to a model ready to decode: the device, the weights (best, last or an
average), int8 quantization, the tokenizers and shortlist, and the model's task (translate, caption or lm)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq import UserError
from seq2seq.config import Config, load_config

CHECKPOINTS = ("best", "last", "average")  # what --checkpoint can pick in a training run's directory


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def quantize_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """int8 weights for Linear/LSTM/GRU layers, activations quantized on the fly (CPU inference only)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic as qd

    with warnings.catch_warnings():  # torch deprecates the quantized-tensor constructors it uses inside
        warnings.simplefilter("ignore")
        return qd(model, {torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU}, dtype=torch.qint8)


def model_task(model_dir: str | Path) -> str:
    """'translate', 'caption' or 'lm', from a model directory's config.yaml."""
    return load_config(Path(model_dir) / "config.yaml").task


def weights(model_dir: Path, checkpoint: str | None = None) -> dict[str, torch.Tensor]:
    """The weights a model directory serves: by default model.pt, else averaged.pt, best.pt, last.pt; or the
    `checkpoint` asked for: best.pt, last.pt, or the average of the step-N.pt checkpoints."""
    from seq2seq import checkpoint as ckpt

    if checkpoint is None:
        return ckpt.model_weights(ckpt.load(ckpt.weights_file(model_dir)))
    if checkpoint not in CHECKPOINTS:
        raise UserError(f"unknown checkpoint {checkpoint!r}; use one of {', '.join(CHECKPOINTS)}")
    if checkpoint == "average":
        steps = ckpt.step_checkpoints(model_dir)
        if not steps:
            raise UserError(f"--checkpoint average: {model_dir} has no step-N.pt checkpoints to average")
        return ckpt.average(steps)
    path = model_dir / f"{checkpoint}.pt"
    if not path.is_file():
        raise UserError(f"--checkpoint {checkpoint}: {path} does not exist (only a training run's directory has "
                        f"best.pt and last.pt)")
    return ckpt.model_weights(ckpt.load(path))


def init_from(model: torch.nn.Module, source: str | Path, parts: tuple[str, ...] = ("encoder", "decoder")):
    """Copy into `model` the weights of another model (a shipped name or a folder) for every parameter under
    `parts` (name prefixes) whose name and shape match: how a new run borrows, e.g., a trained English encoder.
    Returns the names copied and the names of `model` under `parts` left as they were."""
    from seq2seq.hub import resolve

    source_dir = resolve(str(source))
    theirs = weights(source_dir)
    own = model.state_dict()
    wanted = [k for k in own if any(k == p or k.startswith(p + ".") for p in parts)]
    copied = [k for k in wanted if k in theirs and theirs[k].shape == own[k].shape]
    with torch.no_grad():
        for k in copied:
            own[k].copy_(theirs[k].to(own[k].dtype))
    return copied, [k for k in wanted if k not in copied]


@dataclass
class Loaded:
    """A model directory, loaded: config, model (eval mode, on `device`), tokenizers and lexical shortlist."""

    config: Config
    model: torch.nn.Module
    src_tok: object  # seq2seq.tokenizer.Tokenizer (the target's for a captioner)
    tgt_tok: object
    model_dir: Path
    device: torch.device
    shortlist: object | None = None  # seq2seq.shortlist.Shortlist, translation only

    @property
    def task(self) -> str:
        return self.config.task


def load(name_or_dir: str | Path, device: str = "auto", *, quantize: bool = False, checkpoint: str | None = None,
         task: str | None = None) -> Loaded:
    """A shipped model's name or a model directory -> Loaded; `task` ('translate'/'caption'/'lm'), when given, must
    match the model's."""
    from seq2seq.checkpoint import BACKBONE_PREFIX, backbone_from_package
    from seq2seq.hub import resolve
    from seq2seq.model import build_model
    from seq2seq.shortlist import Shortlist
    from seq2seq.tokenizer import load_pair

    model_dir = resolve(str(name_or_dir), task=task or "translate")
    if not (model_dir / "config.yaml").is_file():
        raise UserError(f"{model_dir} is not a model directory: config.yaml is missing")
    cfg = load_config(model_dir / "config.yaml")
    if task is not None and cfg.task != task:
        kind = {"translate": "a translation", "caption": "a captioning", "lm": "a language"}
        raise UserError(f"{model_dir} is {kind[cfg.task]} model, not {kind[task]} model")
    dev = resolve_device(device)
    if quantize and dev.type != "cpu":
        raise UserError("--quantize (int8 dynamic quantization) runs on the CPU only; add --device cpu")
    src_tok, tgt_tok = load_pair(model_dir)
    model = build_model(cfg.model, len(src_tok), len(tgt_tok))
    try:
        missing, unexpected = model.load_state_dict(weights(model_dir, checkpoint), strict=False)
    except RuntimeError as e:
        raise UserError(f"{model_dir}: weights do not match config.yaml ({str(e).splitlines()[0]})") from None
    from_package = backbone_from_package(cfg)
    bad = [k for k in missing if not (from_package and k.startswith(BACKBONE_PREFIX))] + list(unexpected)
    if bad:
        raise UserError(f"{model_dir}: weights do not match config.yaml (e.g. {bad[0]!r})")
    model = model.to(dev).eval()
    if quantize:
        model = quantize_dynamic(model)
    shortlist = Shortlist.for_model(model_dir, len(src_tok), len(tgt_tok)) if cfg.task == "translate" else None
    return Loaded(cfg, model, src_tok, tgt_tok, model_dir, dev, shortlist)
