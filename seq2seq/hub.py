"""Shipped models: the folders of `checkpoints/`, found by name or by language pair.

A shipped model folder holds config.yaml, its sentencepiece model(s), model.pt (fp16 weights) and card.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from seq2seq import UserError

DEFAULT_PAIR = ("en", "de")


def checkpoints_dir() -> Path:
    """$SEQ2SEQ_CHECKPOINTS, else the repository's checkpoints/ folder."""
    env = os.environ.get("SEQ2SEQ_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "checkpoints"


def card_summary(model_dir: Path) -> str:
    """The `Summary:` line of a model folder's card.md ('' when there is none)."""
    card = Path(model_dir) / "card.md"
    if not card.is_file():
        return ""
    return next((ln.split(":", 1)[1].strip() for ln in card.read_text().splitlines()
                 if ln.lower().startswith("summary:")), "")


def shipped() -> dict[str, dict]:
    """name -> {path, task, src_lang, tgt_lang, summary} for every shipped model."""
    out = {}
    root = checkpoints_dir()
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if (p / "config.yaml").is_file()):
        cfg = yaml.safe_load((d / "config.yaml").read_text()) or {}
        data, model = cfg.get("data", {}), cfg.get("model", {})
        summary = card_summary(d)
        out[d.name] = {"path": d, "task": "caption" if model.get("encoder") == "image" else "translate",
                       "src_lang": data.get("src_lang"), "tgt_lang": data.get("tgt_lang"), "summary": summary}
    return out


def resolve(model: str | None, src_lang: str | None = None, tgt_lang: str | None = None,
            task: str = "translate") -> Path:
    """A model directory from --model (a folder or a shipped name) or, without one, from --from/--to."""
    if model:
        p = Path(model)
        if p.is_dir():
            return p
        models = shipped()
        if model in models:
            return models[model]["path"]
        if os.sep in model or model.startswith("."):
            raise UserError(f"model directory not found: {model}")
        names = ", ".join(models) or "none"
        raise UserError(f"no model directory or shipped model named {model!r} (shipped: {names})")
    models = {k: v for k, v in shipped().items() if v["task"] == task}
    if task == "translate":
        src = src_lang or (DEFAULT_PAIR[0] if tgt_lang in (None, DEFAULT_PAIR[1]) else None)
        tgt = tgt_lang or (DEFAULT_PAIR[1] if src == DEFAULT_PAIR[0] else None)
        for name, m in models.items():
            if (src is None or m["src_lang"] == src) and (tgt is None or m["tgt_lang"] == tgt):
                return m["path"]
        pairs = ", ".join(f"{m['src_lang']}->{m['tgt_lang']}" for m in models.values()) or "none"
        raise UserError(f"no shipped model translates {src or '?'}->{tgt or '?'} (shipped: {pairs}); "
                        f"give --model DIR")
    if models:
        return next(iter(models.values()))["path"]
    raise UserError(f"no shipped {task} model; give --model DIR")
