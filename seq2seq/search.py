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


@dataclass
class _Columns:
    """What the logits' columns are: every id, or a shortlist's ids; the rules on them, worked out once."""

    vocab: torch.Tensor | None  # (M,) the shortlist's ids, or None: column j is token j
    banned: torch.Tensor  # (V,) PAD and BOS: never a next token
    not_eos: torch.Tensor  # (V,) all but EOS: ruled out at the length cap

    @classmethod
    def of(cls, vocab: torch.Tensor | None, width: int, device) -> "_Columns":
        ids = vocab if vocab is not None else torch.arange(width, device=device)
        return cls(vocab, (ids == PAD) | (ids == BOS), ids != EOS)

    def tokens(self, cols: torch.Tensor) -> torch.Tensor:
        return cols if self.vocab is None else self.vocab[cols]


def _next_logp(logits: torch.Tensor, force: torch.Tensor, columns: _Columns) -> torch.Tensor:
    """Log-probabilities (B, ..., V) of the next token: never PAD or BOS; only EOS where `force` (B,) is set.
    With a shortlist, the softmax runs over its tokens only."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    logp.masked_fill_(columns.banned, float("-inf"))
    if bool(force.any()):  # at the length cap, EOS keeps its own log-probability; all else is ruled out
        shape = (-1,) + (1,) * (logp.dim() - 1)
        logp = logp.masked_fill(force.view(shape) & columns.not_eos, float("-inf"))
    return logp


def _step_cache(decoder, vocab: torch.Tensor | None, device) -> tuple[torch.Tensor | None, dict]:
    """The shortlist on the device, and `decoder.step`'s per-batch cache as keyword arguments (if it has one)."""
    vocab = vocab.to(device) if vocab is not None else None
    return vocab, ({"cache": decoder.step_cache(vocab)} if hasattr(decoder, "step_cache") else {})


def _keep(enc: EncoderOutput, keys: torch.Tensor | None, keep: torch.Tensor):
    """Encoder output and attention keys of the sentences that stay in the batch."""
    return enc.select(keep), (keys.index_select(0, keep) if keys is not None else None)


def _trim(seq: list[int]) -> list[int]:
    return seq[: seq.index(EOS)] if EOS in seq else [t for t in seq if t != PAD]


@torch.inference_mode()
def greedy_search(decoder, enc: EncoderOutput, max_len: torch.Tensor, return_attention: bool = False,
                  vocab: torch.Tensor | None = None) -> Hypotheses:
    """Arg-max decoding; max_len (B,) caps each output (EOS included). Ended sentences leave the batch.

    vocab (M,): the batch's shortlist of target ids (see seq2seq.shortlist), or None for the whole vocabulary.
    """
    B = enc.memory.size(0)
    device = enc.memory.device
    max_len = max_len.to(device)
    T, S = int(max_len.max()), enc.memory.size(1)
    out = torch.full((B, T), PAD, dtype=torch.long, device=device)
    scores = torch.zeros(B, device=device)
    attns = torch.zeros(B, T, S, device=device) if return_attention else None
    has_attn = False
    act = torch.arange(B, device=device)  # the sentences still decoding
    keys = decoder.precompute(enc)
    state = decoder.init_state(enc)
    tokens = torch.full((B,), BOS, dtype=torch.long, device=device)
    vocab, cache = _step_cache(decoder, vocab, device)
    columns = None
    for t in range(T):
        logits, state, attn = decoder.step(tokens, state, enc, keys, **cache)
        columns = columns or _Columns.of(vocab, logits.size(-1), device)
        logp = _next_logp(logits, t >= max_len - 1, columns)  # (b, V) or (b, M)
        best, cols = logp.max(dim=-1)
        tokens = columns.tokens(cols)
        scores[act] += best
        out[act, t] = tokens
        if return_attention and attn is not None:
            attns[act, t], has_attn = attn.float(), True
        ended = tokens == EOS
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            act, max_len, tokens, state = act[keep], max_len[keep], tokens[keep], state.select(keep)
            enc, keys = _keep(enc, keys, keep)
    toks = [_trim(s) for s in out.tolist()]
    attention = [[attns[b, : len(toks[b]) + 1].cpu()] for b in range(B)] if has_attn else None
    return Hypotheses([[s] for s in toks], [[float(s)] for s in scores.tolist()], attention)


@torch.inference_mode()
def beam_search(decoder, enc: EncoderOutput, max_len: torch.Tensor, beam: int = 5, alpha: float = 0.6,
                nbest: int = 1, return_attention: bool = False, vocab: torch.Tensor | None = None) -> Hypotheses:
    """Batched beam search. Scores are sum log-probabilities / length_penalty(len incl. EOS, alpha).

    vocab (M,): the batch's shortlist of target ids (see seq2seq.shortlist), or None for the whole vocabulary.

    Sentences that are done leave the batch at once, so every step computes only the rows still searching.
    """
    if not 1 <= nbest <= beam:
        raise ValueError("need 1 <= nbest <= beam")
    B, K, N = enc.memory.size(0), beam, nbest
    device = enc.memory.device
    max_len = max_len.to(device)
    T = int(max_len.max())
    S = enc.memory.size(1)
    ninf = float("-inf")
    # results, for all B sentences: each is written when its sentence leaves the batch
    out_scores = torch.full((B, N), ninf, device=device)
    out_seqs = torch.full((B, N, T), PAD, dtype=torch.long, device=device)
    out_attn = torch.zeros(B, N, T, S, device=device) if return_attention else None

    # the search state, for the b sentences still searching (`act`, indices into B); rows are sentence-major
    act = torch.arange(B, device=device)
    alive_scores = torch.full((B, K), ninf, device=device)
    alive_scores[:, 0] = 0.0  # all beams start identical: keep one
    alive_seqs = torch.full((B, K, T), PAD, dtype=torch.long, device=device)
    fin_scores = torch.full((B, N), ninf, device=device)
    fin_seqs = torch.full((B, N, T), PAD, dtype=torch.long, device=device)
    alive_attn = fin_attn = None
    if return_attention:
        alive_attn = torch.zeros(B, K, T, S, device=device)
        fin_attn = torch.zeros(B, N, T, S, device=device)
    lp_max = length_penalty(max_len.float(), alpha)  # (b,)
    beyond_k = torch.arange(2 * K, device=device) >= K  # (2K,) candidate ranks past the beam
    vocab, cache = _step_cache(decoder, vocab, device)

    # the first step is the same for all K beams of a sentence: take it once per sentence, then copy K times.
    # enc and keys stay one row per sentence: decoder.step lets each serve its sentence's K beams.
    keys = decoder.precompute(enc)
    state = decoder.init_state(enc)
    logits, state, attn = decoder.step(torch.full((B,), BOS, dtype=torch.long, device=device), state, enc, keys,
                                       **cache)
    expand = act.repeat_interleave(K)  # (B*K,)
    state, logits = state.select(expand), logits.index_select(0, expand)
    attn = attn.index_select(0, expand) if attn is not None else None
    columns = _Columns.of(vocab, logits.size(-1), device)

    for t in range(T):
        b = act.numel()
        batch_pos = torch.arange(b, device=device).unsqueeze(1)  # (b, 1)
        if t > 0:
            logits, state, attn = decoder.step(tokens, state, enc, keys, **cache)
        V = logits.size(-1)  # the vocabulary, or the shortlist's width M
        logp = _next_logp(logits.view(b, K, V), t >= max_len - 1, columns)  # (b, K, V)
        cand = (alive_scores.unsqueeze(-1) + logp).view(b, K * V)
        top_scores, top_idx = cand.topk(2 * K, dim=1)  # (b, 2K)
        src_beam, tok = top_idx // V, columns.tokens(top_idx % V)  # (b, 2K)
        is_eos = tok == EOS

        # hypotheses ending here join the finished store if they are among the n best
        seqs = alive_seqs.gather(1, src_beam.unsqueeze(-1).expand(-1, -1, T)).clone()  # (b, 2K, T)
        seqs[:, :, t] = tok
        norm = top_scores / length_penalty(float(t + 1), alpha)
        # as in fairseq, an ending counts only if it ranks among the top K (so beam 1 is exactly greedy)
        eos_scores = norm.masked_fill(~is_eos | beyond_k, ninf)
        fin_scores, pick = torch.cat([fin_scores, eos_scores], dim=1).topk(N, dim=1)  # (b, N)
        fin_seqs = torch.cat([fin_seqs, seqs], dim=1)[batch_pos, pick]
        if return_attention:
            a = alive_attn[batch_pos, src_beam]  # (b, 2K, T, S)
            a[:, :, t] = attn.float().view(b, K, S)[batch_pos, src_beam]
            fin_attn = torch.cat([fin_attn, a], dim=1)[batch_pos, pick]

        # the best K hypotheses that did not end live on
        alive_scores, pick = top_scores.masked_fill(is_eos, ninf).topk(K, dim=1)  # (b, K)
        beams = src_beam.gather(1, pick)  # (b, K)
        alive_seqs = seqs[batch_pos, pick]
        if return_attention:
            alive_attn = a[batch_pos, pick]
        tokens = tok.gather(1, pick).view(-1)
        rows = (beams + batch_pos * K).view(-1)  # (b*K,) the rows that live on, in the new order

        # done: the best live score, even at its most favourable length, cannot beat the n-th finished one
        bound = alive_scores[:, 0] / (lp_max if alpha > 0 else 1.0)
        done = (fin_scores[:, N - 1] >= bound) | torch.isinf(alive_scores[:, 0])  # (b,)
        if bool(done.any()):  # done sentences hand in their results and leave the batch
            gone = act[done]
            out_scores[gone], out_seqs[gone] = fin_scores[done], fin_seqs[done]
            if return_attention:
                out_attn[gone] = fin_attn[done]
            keep = (~done).nonzero().squeeze(1)  # (b',)
            if keep.numel() == 0:
                break
            act, max_len, lp_max = act[keep], max_len[keep], lp_max[keep]
            alive_scores, alive_seqs, tokens = alive_scores[keep], alive_seqs[keep], tokens.view(b, K)[keep].view(-1)
            fin_scores, fin_seqs = fin_scores[keep], fin_seqs[keep]
            if return_attention:
                alive_attn, fin_attn = alive_attn[keep], fin_attn[keep]
            rows = rows.view(b, K)[keep].view(-1)  # (b'*K,)
            enc, keys = _keep(enc, keys, keep)
        state = state.select(rows)
    else:  # the length cap ends every search; this only runs if the loop did not break
        out_scores[act], out_seqs[act] = fin_scores, fin_seqs
        if return_attention:
            out_attn[act] = fin_attn

    fin_list, score_list = out_seqs.tolist(), out_scores.tolist()
    tokens_out = [[_trim(s) for s in fin_list[b]] for b in range(B)]
    attention = None
    if return_attention:
        fa = out_attn.cpu()
        attention = [[fa[b, n, : len(tokens_out[b][n]) + 1] for n in range(N)] for b in range(B)]
    return Hypotheses(tokens_out, score_list, attention)


def decode(decoder, enc: EncoderOutput, src_lengths: torch.Tensor, beam: int = 5, alpha: float = 0.6,
           nbest: int = 1, max_len_ratio: float = 2.0, max_len_offset: int = 10,
           return_attention: bool = False, vocab: torch.Tensor | None = None) -> Hypotheses:
    """Greedy when beam == 1, else beam search; the output cap follows each source's length."""
    max_len = max_lengths(src_lengths, max_len_ratio, max_len_offset)
    if beam == 1:
        return greedy_search(decoder, enc, max_len, return_attention, vocab)
    return beam_search(decoder, enc, max_len, beam, alpha, nbest, return_attention, vocab)
