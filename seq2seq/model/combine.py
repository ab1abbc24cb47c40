"""Several models in one search: `LogLinear` is a Stepper whose next-token scores are a weighted sum of its
members' log-probabilities. Equal weights make an ensemble (the models' log-probabilities averaged at every step);
a translation model plus `weight` x a language model of the target language is shallow fusion.

Search sees one Stepper and one encoder output as always: here the encoder output, the attention keys and the
decoder state hold one value per member (`PerModel`), selected together when beams are reordered and sentences
leave the batch. The sum is renormalized by search's softmax (a normalized product of the members' distributions).
`search_inputs` builds them for the Translator and the Captioner.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seq2seq import UserError


class PerModel(tuple):
    """One value per member model (encoder outputs, attention keys, decoder states), selected together."""

    def select(self, index: torch.Tensor) -> "PerModel":
        return PerModel(x.select(index) for x in self)

    def index_select(self, dim: int, index: torch.Tensor) -> "PerModel":
        return PerModel(None if x is None else x.index_select(dim, index) for x in self)

    @property
    def memory(self) -> torch.Tensor:
        """The first member's memory (B, S, D): what search reads its batch size, source length and device from."""
        return self[0].memory


class LogLinear:
    """Stepper: sum_i weights[i] * log p_i(next token) over member Steppers that score the same columns."""

    def __init__(self, members: list, weights: list[float], attend: int | None = None):
        if len(members) != len(weights) or not members:
            raise ValueError("one weight per member, and at least one member")
        cols = [m.columns for m in members]
        if any((c is None) != (cols[0] is None) or (c is not None and not torch.equal(c, cols[0])) for c in cols):
            raise UserError("models combined in one search must score the same target vocabulary (shortlist)")
        self.members, self.weights, self.columns = members, [float(w) for w in weights], cols[0]
        self.attend = attend  # the member whose attention is returned; None: the mean of the members that attend

    def precompute(self, enc: PerModel) -> PerModel:
        return PerModel(m.precompute(e) for m, e in zip(self.members, enc))

    def init_state(self, enc: PerModel) -> PerModel:
        return PerModel(m.init_state(e) for m, e in zip(self.members, enc))

    def step(self, tokens: torch.Tensor, state: PerModel, enc: PerModel, keys: PerModel, group: int = 1):
        """As `Decoder.step`; the logits are the weighted sum of log-probabilities, the attention the mean of the
        members that attend (a language model does not), or member `attend`'s."""
        total, states, attns = None, [], []
        for i, (m, w, s, e, k) in enumerate(zip(self.members, self.weights, state, enc, keys)):
            logits, s, attn = m.step(tokens, s, e, k, group)
            logp = torch.log_softmax(logits.float(), dim=-1) * w
            total = logp if total is None else total + logp
            states.append(s)
            if attn is not None and self.attend in (None, i):
                attns.append(attn.float())
        attn = torch.stack(attns).mean(0) if attns else None
        return total, PerModel(states), attn


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


def search_inputs(models: list, encs: list, lm: torch.nn.Module | None = None, lm_weight: float = 0.0,
                  columns: torch.Tensor | None = None, attend: int | None = None):
    """The Stepper and encoder output that search runs on, for `models` (EncoderDecoders, one encoder output each)
    and their plain FastSteps on `columns` (a shortlist, or all): several models are an ensemble (weights 1/N,
    log-probabilities averaged at every step), and with `lm` its step is added with `lm_weight` (shallow fusion).
    One model without a language model is searched as itself, unwrapped. `attend`: as for LogLinear."""
    from seq2seq.model.fast import FastStep

    steps, weights = [FastStep(m.decoder, columns) for m in models], [1 / len(models)] * len(models)
    if lm is not None:
        B, device = encs[0].memory.size(0), encs[0].memory.device
        encs = [*encs, lm.encode(torch.zeros(B, 1, dtype=torch.long, device=device), torch.ones(B, dtype=torch.long))]
        steps, weights = [*steps, FastStep(lm.decoder, columns)], [*weights, lm_weight]
    return (steps[0], encs[0]) if len(steps) == 1 else (LogLinear(steps, weights, attend), PerModel(encs))
