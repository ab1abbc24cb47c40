"""Model collections: the folders of $SEQ2SEQ_MODELS, then the shipped `checkpoints/`, by name or language pair.

A model folder holds config.yaml, its sentencepiece model(s), model.pt (fp16 weights) and card.md. The shipped
ones are `checkpoints/` at the repository's root; a wheel installs that folder as `seq2seq/checkpoints/`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from seq2seq.config import task_of
from seq2seq.errors import UserError
from seq2seq.modeldir import CARD, CONFIG

log = logging.getLogger(__name__)

DEFAULT_PAIR = ("en", "de")
ENV_VARS = ("SEQ2SEQ_MODELS", "SEQ2SEQ_CHECKPOINTS")  # the second: the earlier name, kept as an alias


def checkpoints_dir() -> Path:
    """The shipped models: seq2seq/checkpoints/ in an installed wheel, else the source tree's checkpoints/."""
    here = Path(__file__).resolve().parent
    packaged = here / "checkpoints"
    return packaged if packaged.is_dir() else here.parent / "checkpoints"


def search_path() -> list[Path]:
    """The folders searched for models, first match wins: those in $SEQ2SEQ_MODELS (os.pathsep-separated), those
    in $SEQ2SEQ_CHECKPOINTS, then the shipped ones."""
    dirs = [Path(d) for var in ENV_VARS for d in os.environ.get(var, "").split(os.pathsep) if d]
    return list(dict.fromkeys([*dirs, checkpoints_dir()]))


def card_summary(model_dir: Path) -> str:
    """The `Summary:` line of a model folder's card.md ('' when there is none)."""
    card = Path(model_dir) / CARD
    if not card.is_file():
        return ""
    return next((ln.split(":", 1)[1].strip() for ln in card.read_text().splitlines()
                 if ln.lower().startswith("summary:")), "")


def shipped() -> dict[str, dict]:
    """name -> {path, task, src_lang, tgt_lang, summary, ensemble} for every model on the search path (a name found in
    an earlier folder hides the same name in a later one). A folder whose config.yaml cannot be read is skipped
    with a warning."""
    out = {}
    for root in search_path():
        try:
            folders = sorted(root.iterdir()) if root.is_dir() else []
        except OSError as e:  # an unreadable folder on the path must not hide every other model
            log.warning("skipped %s: %s", root, e.strerror or e)
            continue
        for d in folders:
            if d.name in out:
                continue
            try:
                if (d / CONFIG).is_file():
                    out[d.name] = _describe(d)
            except UserError as e:
                log.warning("skipped a model folder: %s", e)
            except OSError as e:
                log.warning("skipped a model folder: %s: %s", d, e.strerror or e)
    return out


def _describe(d: Path) -> dict:
    """A model folder's entry, from its config.yaml and card.md."""
    try:
        cfg = yaml.safe_load((d / CONFIG).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserError(f"{d / CONFIG}: not a readable model config ({type(e).__name__})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{d / CONFIG}: not a model config (a mapping of data/model/train/search)")
    data, model, search = cfg.get("data") or {}, cfg.get("model") or {}, cfg.get("search") or {}
    return {"path": d, "task": task_of(model.get("encoder") if isinstance(model, dict) else None),
            "src_lang": data.get("src_lang"), "tgt_lang": data.get("tgt_lang"), "summary": card_summary(d),
            "ensemble": _members(search)}


def _members(search: object) -> list[str]:
    """The ensemble members a config's search section names (loading checks them; a listing only shows them)."""
    members = search.get("ensemble") if isinstance(search, dict) else None
    return [str(m) for m in members] if isinstance(members, list) else []


def resolve(model: str | None, src_lang: str | None = None, tgt_lang: str | None = None,
            task: str = "translate") -> Path:
    """A model directory from --model (a folder or a shipped name) or, without one (None), from --from/--to."""
    if model is not None and not model.strip():
        raise UserError("--model is empty: give a model folder or a shipped name (`seq2seq models` lists them)")
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
