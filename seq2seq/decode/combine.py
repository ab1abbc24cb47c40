"""Several models in one search: `LogLinear` is a Stepper whose next-token scores are a weighted sum of its
members' log-probabilities. Equal weights make an ensemble (the models' log-probabilities averaged at every step);
a translation model plus `weight` x a language model of the target language is shallow fusion.

Search sees one Stepper and one encoder output as always: here the encoder output, the attention keys and the
decoder state hold one value per member (`PerModel`), selected together when beams are reordered and sentences
leave the batch. The sum is renormalized by search's softmax (a normalized product of the members' distributions).
`search_inputs` builds them for the Translator and the Captioner.
"""

from __future__ import annotations

import torch

from seq2seq.decode.fast import FastStep
from seq2seq.errors import UserError


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


def search_inputs(models: list, encs: list, lm: torch.nn.Module | None = None, lm_weight: float = 0.0,
                  columns: torch.Tensor | None = None, attend: int | None = None):
    """The Stepper and encoder output that search runs on, for `models` (EncoderDecoders, one encoder output each)
    and their plain FastSteps on `columns` (a shortlist, or all): several models are an ensemble (weights 1/N,
    log-probabilities averaged at every step), and with `lm` its step is added with `lm_weight` (shallow fusion).
    One model without a language model is searched as itself, unwrapped. `attend`: as for LogLinear."""
    steps, weights = [FastStep(m.decoder, columns) for m in models], [1 / len(models)] * len(models)
    if lm is not None:
        B, device = encs[0].memory.size(0), encs[0].memory.device
        encs = [*encs, lm.encode(torch.zeros(B, 1, dtype=torch.long, device=device), torch.ones(B, dtype=torch.long))]
        steps, weights = [*steps, FastStep(lm.decoder, columns)], [*weights, lm_weight]
    return (steps[0], encs[0]) if len(steps) == 1 else (LogLinear(steps, weights, attend), PerModel(encs))
