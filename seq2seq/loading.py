"""From a model's name or directory to a model ready to decode: the device, the weights (best, last or an
average), int8 quantization, the tokenizers and shortlist; the ensemble members a config names, and the
language model of shallow fusion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from seq2seq.config import Config
from seq2seq.data.tokenizer import Tokenizer, load_pair
from seq2seq.decode.shortlist import Shortlist
from seq2seq.errors import UserError
from seq2seq.hub import resolve
from seq2seq.model import build_model
from seq2seq.modeldir import (
    BACKBONE_PREFIX,
    backbone_from_package,
    read_config,
    weights,
)


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
    import warnings  # lazy: keeps start-up fast

    from torch.ao.quantization import quantize_dynamic as qd  # lazy: keeps start-up fast

    with warnings.catch_warnings():  # torch deprecates the quantized-tensor constructors it uses inside
        warnings.simplefilter("ignore")
        return qd(model, {torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU}, dtype=torch.qint8)


@dataclass
class Loaded:
    """A model directory, loaded: config, model (eval mode, on `device`), tokenizers and lexical shortlist."""

    config: Config
    model: torch.nn.Module
    src_tok: Tokenizer  # the target's for a captioner
    tgt_tok: Tokenizer
    model_dir: Path
    device: torch.device
    shortlist: Shortlist | None = None  # translation only

    @property
    def task(self) -> str:
        return self.config.task


def load(name_or_dir: str | Path, device: str = "auto", *, quantize: bool = False, checkpoint: str | None = None,
         task: str | None = None) -> Loaded:
    """A shipped model's name or a model directory -> Loaded; `task` ('translate'/'caption'/'lm'), when given, must
    match the model's."""
    model_dir = resolve(str(name_or_dir), task=task or "translate")
    cfg = read_config(model_dir)
    if task is not None and cfg.task != task:
        kind = {"translate": "a translation", "caption": "a captioning", "transcribe": "a speech recognition",
                "lm": "a language"}
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


def model_names(name_or_dirs) -> list:
    """`load`'s first argument as a list: one name or folder, or several (an ensemble); none is a UserError."""
    names = [name_or_dirs] if isinstance(name_or_dirs, (str, Path)) else list(name_or_dirs)
    if not names:
        raise UserError("no model given")
    return names


def load_members(name_or_dirs, load_one, ensemble: bool = True) -> list:
    """The models `load` was asked for (`load_one(name, checkpoint=...)` -> `seq2seq.loading.Loaded`) and, for a
    model asked for alone, the members its config names (search.ensemble: folders relative to its own, or shipped
    names; their own weights, no checkpoint choice): a model whose best setting is an ensemble is that ensemble by
    default. `ensemble=False` loads it alone; models given together, and the members, are never expanded."""
    names = model_names(name_or_dirs)
    ms = [load_one(n) for n in names]
    if not ensemble or len(ms) > 1:
        return ms
    first = ms[0]
    for name in first.config.search.ensemble:
        local = Path(first.model_dir) / name
        try:
            ms.append(load_one(local if local.is_dir() else name, checkpoint=None))
        except UserError as e:
            raise UserError(f"{first.model_dir}/config.yaml: search.ensemble member {name!r}: {e} (--no-ensemble, "
                            f"or ensemble=False in Python, decodes the model alone)") from None
    return ms


def check_vocabularies(members: list) -> None:
    """An ensemble's members (`seq2seq.loading.Loaded`) must share their sentencepiece models, source and target
    (a captioner's source tokenizer is its target's): else a UserError naming the two folders."""
    first = members[0]
    for other in members[1:]:
        if not (same_vocabulary([first.src_tok, other.src_tok]) and same_vocabulary([first.tgt_tok, other.tgt_tok])):
            raise UserError(f"{other.model_dir} and {first.model_dir} have different vocabularies (sentencepiece "
                            f"models): an ensemble needs models trained with the same ones")


def same_vocabulary(tokenizers: list) -> bool:
    """Whether sentencepiece models are the same file, byte for byte (ids then mean the same pieces)."""
    first = tokenizers[0].path.read_bytes()
    return all(t.path.read_bytes() == first for t in tokenizers[1:])


def fusion_lm(cache: dict, search, device: torch.device, tok: Tokenizer) -> torch.nn.Module | None:
    """The language model `search.lm` names, for shallow fusion with a model whose target tokenizer is `tok`
    (loaded once into `cache`); None when search.lm_weight is 0. Its sentencepiece model must be `tok`'s."""
    if not (search.lm and search.lm_weight):
        return None
    if search.lm not in cache:
        m = load(search.lm, device.type, task="lm")
        if not same_vocabulary([tok, m.tgt_tok]):
            raise UserError(f"the language model {m.model_dir} has another sentencepiece model than this model's "
                            f"target side: fusion needs the same one (train the LM with data.spm_model set to "
                            f"{tok.path})")
        cache[search.lm] = m.model
    return cache[search.lm]
