"""Translator: texts -> tokenize -> length-sorted batches -> search -> detokenize, in the input's order."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from seq2seq import UserError
from seq2seq.batching import collate
from seq2seq.config import Config, SearchConfig, load_config
from seq2seq.model import build_model
from seq2seq.search import decode
from seq2seq.shortlist import Shortlist
from seq2seq.tokenizer import Tokenizer, load_pair

MAX_SRC_TOKENS = 250  # longer inputs are truncated (with a warning): RNN cost and memory grow with length


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


@dataclass
class Translation:
    text: str  # best hypothesis, detokenized
    score: float
    nbest: list[tuple[str, float]]  # all n best, best first
    src_pieces: list[str]
    tgt_pieces: list[str]
    attention: torch.Tensor | None = None  # (T, S) for the best hypothesis, when asked


def load_model_dir(model_dir: str | Path, device: torch.device) -> tuple[Config, torch.nn.Module, Tokenizer, Tokenizer]:
    """Config, model (eval mode, on device) and tokenizers of a trained model directory."""
    from seq2seq.checkpoint import BACKBONE_PREFIX, backbone_from_package, load, model_weights, weights_file

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"model directory not found: {model_dir}")
    if not (model_dir / "config.yaml").is_file():
        raise UserError(f"{model_dir} is not a model directory: config.yaml is missing")
    cfg = load_config(model_dir / "config.yaml")
    src_tok, tgt_tok = load_pair(model_dir)
    model = build_model(cfg.model, len(src_tok), len(tgt_tok))
    try:
        missing, unexpected = model.load_state_dict(model_weights(load(weights_file(model_dir))), strict=False)
    except RuntimeError as e:
        raise UserError(f"{model_dir}: weights do not match config.yaml ({str(e).splitlines()[0]})") from None
    from_package = backbone_from_package(cfg)
    bad = [k for k in missing if not (from_package and k.startswith(BACKBONE_PREFIX))] + list(unexpected)
    if bad:
        raise UserError(f"{model_dir}: weights do not match config.yaml (e.g. {bad[0]!r})")
    return cfg, model.to(device).eval(), src_tok, tgt_tok


def quantize_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """int8 weights for Linear/LSTM/GRU layers, activations quantized on the fly (CPU inference only)."""
    import warnings

    from torch.ao.quantization import quantize_dynamic as qd

    with warnings.catch_warnings():  # torch deprecates the quantized-tensor constructors it uses inside
        warnings.simplefilter("ignore")
        return qd(model, {torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU}, dtype=torch.qint8)


class Translator:
    """Batched translation with a trained model; `search` holds beam, alpha, n-best and length limits."""

    def __init__(self, model: torch.nn.Module, src_tok: Tokenizer, tgt_tok: Tokenizer, search: SearchConfig,
                 device: torch.device | str = "cpu", max_src_tokens: int = MAX_SRC_TOKENS,
                 shortlist: Shortlist | None = None):
        self.model, self.src_tok, self.tgt_tok = model, src_tok, tgt_tok
        self.shortlist = shortlist  # used when search.shortlist is set
        self.search = search
        self.device = torch.device(device)
        self.max_src_tokens = max_src_tokens

    @classmethod
    def from_dir(cls, model_dir: str | Path, device: str = "auto", quantize: bool = False,
                 **search_overrides) -> "Translator":
        dev = resolve_device(device)
        cfg, model, src_tok, tgt_tok = load_model_dir(model_dir, dev)
        if quantize:
            if dev.type != "cpu":
                raise UserError("--quantize (int8 dynamic quantization) runs on the CPU only; add --device cpu")
            model = quantize_dynamic(model)
        search = replace(cfg.search, **{k: v for k, v in search_overrides.items() if v is not None})
        search.validate()
        shortlist = Shortlist.for_model(model_dir, len(src_tok), len(tgt_tok))
        translator = cls(model, src_tok, tgt_tok, search, dev, shortlist=shortlist)
        translator.config = cfg
        translator.model_dir = Path(model_dir)
        return translator

    def translate(self, texts: list[str], return_attention: bool = False, warn=None) -> list[Translation]:
        """One Translation per input, in order. Empty or whitespace-only inputs give empty outputs."""
        warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
        s = self.search
        results: list[Translation | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        for i, t in enumerate(texts):
            if not t.strip():
                results[i] = Translation("", 0.0, [("", 0.0)] * s.nbest, [], [])
        ids = self.src_tok.encode([texts[i] for i in todo]) if todo else []
        for j, seq in enumerate(ids):
            if len(seq) > self.max_src_tokens:
                warn(f"input line {todo[j] + 1} has {len(seq)} subword tokens; truncated to {self.max_src_tokens}")
                ids[j] = seq[: self.max_src_tokens]
        order = sorted(range(len(ids)), key=lambda j: len(ids[j]))
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), s.batch_size):
                chunk = order[start : start + s.batch_size]
                batch = collate([ids[j] for j in chunk]).to(self.device)
                enc = self.model.encode(batch.src, batch.src_lengths.to(self.device))
                vocab = self.shortlist.candidates(batch.src) if (self.shortlist and s.shortlist) else None
                hyp = decode(self.model.decoder, enc, batch.src_lengths, s.beam, s.alpha, s.nbest, s.max_len_ratio,
                             s.max_len_offset, return_attention, vocab)
                for k, j in enumerate(chunk):
                    outs = self.tgt_tok.decode(hyp.tokens[k])
                    nbest = list(zip(outs, hyp.scores[k]))
                    # (T, S) cut to this sentence's own source (its pieces and EOS), not the batch's padded width
                    attn = hyp.attention[k][0][:, : len(ids[j]) + 1] if hyp.attention is not None else None
                    results[todo[j]] = Translation(outs[0], hyp.scores[k][0], nbest,
                                                   self.src_tok.pieces(ids[j]) + ["</s>"],
                                                   self.tgt_tok.pieces(hyp.tokens[k][0]) + ["</s>"], attn)
        return results
