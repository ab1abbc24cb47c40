"""Random sampling over a `Stepper`, batched as tensors: temperature, top-k and nucleus (top-p) filtering
(`filter_logits`, a pure function), one draw per row per step from a seeded generator; rows that end leave the
batch, as in greedy search. Scores are the model's own log-probabilities of the drawn tokens."""

from __future__ import annotations

import torch

from seq2seq.decode.search import NINF, Hypotheses, greedy_search
from seq2seq.model.interface import EncoderOutput, Stepper


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """logits (R, V) -> the logits to sample from: divided by `temperature`, then -inf outside the `top_k` best
    (0: all) and outside the nucleus: the fewest best tokens whose probability adds up to at least `top_p`."""
    logits = logits.float() / temperature
    if 0 < top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (R, 1)
        logits = logits.masked_fill(logits < kth, NINF)
    if top_p < 1.0:
        probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)  # (R, V)
        before = probs.cumsum(dim=-1) - probs  # the mass of the better tokens
        drop = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= top_p)  # vocabulary order
        logits = logits.masked_fill(drop, NINF)
    return logits


def sample(decoder: Stepper, enc: EncoderOutput, max_len: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, generator: torch.Generator | None = None) -> Hypotheses:
    """One sample per row of `enc`, each capped at max_len (B,) tokens, EOS included: greedy search's loop with
    a random draw from the filtered distribution in place of the arg-max."""

    def draw(logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # logp (b, V): PAD and BOS ruled out
        cols = torch.multinomial(torch.softmax(filter_logits(logp, temperature, top_k, top_p), dim=-1), 1,
                                 generator=generator).squeeze(1)  # (b,)
        return logp.gather(1, cols[:, None]).squeeze(1), cols

    return greedy_search(decoder, enc, max_len, pick=draw)
