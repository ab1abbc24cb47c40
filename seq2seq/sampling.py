"""Random sampling over a `Stepper`, batched as tensors: temperature, top-k and nucleus (top-p) filtering
(`filter_logits`, a pure function), one draw per row per step from a seeded generator; rows that end leave the
batch, as in greedy search. Scores are the model's own log-probabilities of the drawn tokens."""

from __future__ import annotations

import torch

from seq2seq.model.interface import EncoderOutput, Stepper
from seq2seq.search import NINF, Columns, Hypotheses, _Hyps, _keep, _results, next_logp
from seq2seq.tokenizer import BOS, EOS


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


@torch.inference_mode()
def sample(decoder: Stepper, enc: EncoderOutput, max_len: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, generator: torch.Generator | None = None) -> Hypotheses:
    """One sample per row of `enc`, each capped at max_len (B,) tokens, EOS included."""
    B, device = enc.memory.size(0), enc.memory.device
    max_len = max_len.to(device)
    out = _Hyps.empty(B, 1, int(max_len.max()), 0, device, False)
    out.scores.zero_()
    act = torch.arange(B, device=device)  # the rows still sampling
    keys, state = decoder.precompute(enc), decoder.init_state(enc)
    tokens = torch.full((B,), BOS, dtype=torch.long, device=device)
    columns = None
    for t in range(out.seqs.size(2)):
        logits, state, _ = decoder.step(tokens, state, enc, keys)
        columns = columns or Columns.of(decoder.columns, logits.size(-1), device)
        logp = next_logp(logits, t >= max_len - 1, columns, act)  # (b, V): PAD and BOS ruled out
        drawn = torch.multinomial(torch.softmax(filter_logits(logp, temperature, top_k, top_p), dim=-1), 1,
                                  generator=generator)  # (b, 1)
        out.scores[act, 0] += logp.gather(1, drawn).squeeze(1)
        tokens = columns.tokens(drawn.squeeze(1))
        out.seqs[act, 0, t] = tokens
        ended = tokens == EOS
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            act, max_len, tokens, state = act[keep], max_len[keep], tokens[keep], state.select(keep)
            enc, keys = _keep(enc, keys, keep)
    return _results(out)
