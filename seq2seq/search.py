"""Greedy and beam search over `decoder.step`, batched over sentences and beams as tensors.

Beam search keeps `beam` live hypotheses per sentence. Each step it takes the top 2*beam candidates, so that
hypotheses that end (EOS) never shrink the beam: those ending among the top `beam` go to a finished store of
the n best, scored with GNMT length normalisation, and the best `beam` non-EOS candidates live on. A sentence is done when no live
hypothesis can still beat its n-th finished one; the search stops when every sentence is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from seq2seq.model.interface import EncoderOutput
from seq2seq.tokenizer import BOS, EOS, PAD


@dataclass
class Hypotheses:
    """Per sentence, the n best outputs (ids without BOS/EOS), best first, with their scores."""

    tokens: list[list[list[int]]]
    scores: list[list[float]]
    attention: list[list[torch.Tensor]] | None = field(default=None)  # per hypothesis (T, S), EOS step included


def length_penalty(length: torch.Tensor | float, alpha: float):
    """GNMT: ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def max_lengths(src_lengths: torch.Tensor, ratio: float, offset: int) -> torch.Tensor:
    """Output length cap per sentence (EOS included)."""
    return (src_lengths.float() * ratio).long() + offset


def _next_logp(logits: torch.Tensor, force: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (B, ..., V) of the next token: never PAD or BOS; only EOS where `force` (B,) is set."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    logp[..., PAD] = float("-inf")
    logp[..., BOS] = float("-inf")
    if bool(force.any()):  # at the length cap, EOS keeps its own log-probability; all else is ruled out
        not_eos = torch.ones(logp.size(-1), dtype=torch.bool, device=logp.device)
        not_eos[EOS] = False
        shape = (-1,) + (1,) * (logp.dim() - 1)
        logp = logp.masked_fill(force.view(shape) & not_eos, float("-inf"))
    return logp


def _trim(seq: list[int]) -> list[int]:
    return seq[: seq.index(EOS)] if EOS in seq else [t for t in seq if t != PAD]


@torch.inference_mode()
def greedy_search(decoder, enc: EncoderOutput, max_len: torch.Tensor, return_attention: bool = False) -> Hypotheses:
    """Arg-max decoding; max_len (B,) caps each output (EOS included)."""
    B = enc.memory.size(0)
    device = enc.memory.device
    max_len = max_len.to(device)
    keys = decoder.precompute(enc)
    state = decoder.init_state(enc)
    tokens = torch.full((B,), BOS, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    scores = torch.zeros(B, device=device)
    out, attns = [], []
    for t in range(int(max_len.max())):
        logits, state, attn = decoder.step(tokens, state, enc, keys)
        logp = _next_logp(logits, t >= max_len - 1)  # (B, V)
        best, tokens = logp.max(dim=-1)
        scores += best.masked_fill(finished, 0.0)
        tokens = tokens.masked_fill(finished, PAD)
        out.append(tokens)
        if return_attention and attn is not None:
            attns.append(attn.float())
        finished |= tokens == EOS
        if bool(finished.all()):
            break
    seqs = torch.stack(out, dim=1).tolist()  # (B, T)
    toks = [_trim(s) for s in seqs]
    attention = None
    if return_attention and attns:
        a = torch.stack(attns, dim=1).cpu()  # (B, T, S)
        attention = [[a[b, : len(toks[b]) + 1]] for b in range(B)]
    return Hypotheses([[s] for s in toks], [[float(s)] for s in scores.tolist()], attention)


@torch.inference_mode()
def beam_search(decoder, enc: EncoderOutput, max_len: torch.Tensor, beam: int = 5, alpha: float = 0.6,
                nbest: int = 1, return_attention: bool = False) -> Hypotheses:
    """Batched beam search. Scores are sum log-probabilities / length_penalty(len incl. EOS, alpha)."""
    if not 1 <= nbest <= beam:
        raise ValueError("need 1 <= nbest <= beam")
    B, K, N = enc.memory.size(0), beam, nbest
    device = enc.memory.device
    max_len = max_len.to(device)
    T = int(max_len.max())
    enc = enc.select(torch.arange(B, device=device).repeat_interleave(K))  # (B*K, ...)
    keys = decoder.precompute(enc)
    state = decoder.init_state(enc)
    tokens = torch.full((B * K,), BOS, dtype=torch.long, device=device)
    ninf = float("-inf")
    alive_scores = torch.full((B, K), ninf, device=device)
    alive_scores[:, 0] = 0.0  # all beams start identical: keep one
    alive_seqs = torch.full((B, K, T), PAD, dtype=torch.long, device=device)
    fin_scores = torch.full((B, N), ninf, device=device)
    fin_seqs = torch.full((B, N, T), PAD, dtype=torch.long, device=device)
    S = enc.memory.size(1)
    alive_attn = fin_attn = None
    if return_attention:
        alive_attn = torch.zeros(B, K, T, S, device=device)
        fin_attn = torch.zeros(B, N, T, S, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    batch_pos = torch.arange(B, device=device).unsqueeze(1)  # (B, 1)
    lp_max = length_penalty(max_len.float(), alpha)  # (B,)
    beyond_k = torch.arange(2 * K, device=device) >= K  # (2K,) candidate ranks past the beam

    for t in range(T):
        logits, state, attn = decoder.step(tokens, state, enc, keys)
        V = logits.size(-1)
        logp = _next_logp(logits.view(B, K, V), t >= max_len - 1)  # (B, K, V)
        cand = (alive_scores.unsqueeze(-1) + logp).view(B, K * V)
        top_scores, top_idx = cand.topk(2 * K, dim=1)  # (B, 2K)
        src_beam, tok = top_idx // V, top_idx % V  # (B, 2K)
        is_eos = tok == EOS

        # hypotheses ending here join the finished store if they are among the n best
        seqs = alive_seqs.gather(1, src_beam.unsqueeze(-1).expand(-1, -1, T)).clone()  # (B, 2K, T)
        seqs[:, :, t] = tok
        norm = top_scores / length_penalty(float(t + 1), alpha)
        # as in fairseq, an ending counts only if it ranks among the top K (so beam 1 is exactly greedy)
        eos_scores = norm.masked_fill(~is_eos | beyond_k | done.unsqueeze(1), ninf)
        fin_scores, pick = torch.cat([fin_scores, eos_scores], dim=1).topk(N, dim=1)  # (B, N)
        fin_seqs = torch.cat([fin_seqs, seqs], dim=1)[batch_pos, pick]
        if return_attention:
            a = alive_attn[batch_pos, src_beam]  # (B, 2K, T, S)
            a[:, :, t] = attn.float().view(B, K, S)[batch_pos, src_beam]
            fin_attn = torch.cat([fin_attn, a], dim=1)[batch_pos, pick]

        # the best K hypotheses that did not end live on
        alive_scores, pick = top_scores.masked_fill(is_eos, ninf).topk(K, dim=1)  # (B, K)
        beams = src_beam.gather(1, pick)  # (B, K)
        alive_seqs = seqs[batch_pos, pick]
        if return_attention:
            alive_attn = a[batch_pos, pick]
        tokens = tok.gather(1, pick).view(-1)
        state = state.select((beams + batch_pos * K).view(-1))

        # done: the best live score, even at its most favourable length, cannot beat the n-th finished one
        bound = alive_scores[:, 0] / (lp_max if alpha > 0 else 1.0)
        done |= (fin_scores[:, N - 1] >= bound) | torch.isinf(alive_scores[:, 0])
        if bool(done.all()):
            break

    fin_list, score_list = fin_seqs.tolist(), fin_scores.tolist()
    tokens_out = [[_trim(s) for s in fin_list[b]] for b in range(B)]
    attention = None
    if return_attention:
        fa = fin_attn.cpu()
        attention = [[fa[b, n, : len(tokens_out[b][n]) + 1] for n in range(N)] for b in range(B)]
    return Hypotheses(tokens_out, score_list, attention)


def decode(decoder, enc: EncoderOutput, src_lengths: torch.Tensor, beam: int = 5, alpha: float = 0.6,
           nbest: int = 1, max_len_ratio: float = 2.0, max_len_offset: int = 10,
           return_attention: bool = False) -> Hypotheses:
    """Greedy when beam == 1, else beam search; the output cap follows each source's length."""
    max_len = max_lengths(src_lengths, max_len_ratio, max_len_offset)
    if beam == 1:
        return greedy_search(decoder, enc, max_len, return_attention)
    return beam_search(decoder, enc, max_len, beam, alpha, nbest, return_attention)
