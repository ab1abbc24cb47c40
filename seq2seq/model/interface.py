"""The contracts: what any encoder gives the decoder (`EncoderOutput`), the decoder's per-step state
(`DecoderState`), and what search needs of a decoder (`Stepper`).

The first two carry `.select(indices)` so that search can expand a batch into beams and reorder beams, without
knowing which encoder produced them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass
class EncoderOutput:
    """What every encoder (text RNN, image CNN) returns and all the decoder ever sees."""

    memory: torch.Tensor  # (B, S, D) states to attend over
    mask: torch.Tensor  # (B, S) bool, True where memory is real (not padding)
    init_state: torch.Tensor  # (B, D0) summary vector the decoder builds its initial state from

    def select(self, index: torch.Tensor) -> "EncoderOutput":
        return EncoderOutput(self.memory.index_select(0, index), self.mask.index_select(0, index),
                             self.init_state.index_select(0, index))


@dataclass
class DecoderState:
    """Recurrent state between decoder steps."""

    hidden: torch.Tensor  # (L, B, H)
    cell: torch.Tensor | None  # (L, B, H) for LSTM, else None
    feed: torch.Tensor | None  # (B, O) previous attentional vector (input feeding), else None

    def select(self, index: torch.Tensor) -> "DecoderState":
        pick = lambda t, dim: None if t is None else t.index_select(dim, index)  # noqa: E731
        return DecoderState(pick(self.hidden, 1), pick(self.cell, 1), pick(self.feed, 0))


class Stepper(Protocol):
    """What search runs: `Decoder` itself, or `seq2seq.decode.fast.FastStep` (the same step, faster)."""

    columns: torch.Tensor | None  # (M,) target ids that the logits' columns score; None: column j is token j

    def precompute(self, enc: EncoderOutput) -> torch.Tensor | None: ...

    def init_state(self, enc: EncoderOutput) -> DecoderState: ...

    def step(self, tokens: torch.Tensor, state: DecoderState, enc: EncoderOutput, keys: torch.Tensor | None,
             group: int = 1) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """tokens (B,) -> logits (B, V or M), next state, attention (B, S) or None; enc has B / group rows."""
