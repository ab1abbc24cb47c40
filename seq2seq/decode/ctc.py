"""Decoding a CTC head's frame-wise distributions into token sequences: greedy (best path: argmax per frame,
repeats merged, blanks dropped) and prefix beam search (each prefix's probability summed over all the alignments
that collapse to it, Graves 2012 / Hannun et al. 2014). The blank is id 0 (PAD, never a target token).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

BLANK = 0
NINF = float("-inf")


def collapse(path: list[int], blank: int = BLANK) -> list[int]:
    """An alignment -> its tokens: runs of one symbol merged, then blanks dropped ([a, a, _, a, b] -> [a, a, b])."""
    out, prev = [], None
    for s in path:
        if s != prev and s != blank:
            out.append(s)
        prev = s
    return out


def greedy(logprobs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """logprobs (B, T, V), lengths (B,) -> per row the collapse of its most likely path."""
    best = logprobs.argmax(-1).tolist()  # (B, T)
    return [collapse(row[: int(n)]) for row, n in zip(best, lengths.tolist())]


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), exact at -inf."""
    if a == NINF:
        return b
    if b == NINF:
        return a
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


def prefix_beam(logprobs: torch.Tensor, beam: int = 8, prune: float = -12.0) -> list[tuple[list[int], float]]:
    """logprobs (T, V) of one utterance -> the `beam` best prefixes with their total log-probabilities (summed
    over alignments), best first. Each prefix keeps two scores: ending in a blank and ending in its last token,
    so that a repeated token is told apart from a held one. Tokens below `prune` at a frame are skipped (speed)."""
    lp = logprobs.double().tolist()
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, NINF)}  # prefix -> (log p ending in blank, in a token)
    for frame in lp:
        candidates = [v for v, x in enumerate(frame) if x >= prune and v != BLANK]
        nxt: dict[tuple, list[float]] = defaultdict(lambda: [NINF, NINF])
        for prefix, (pb, pt) in beams.items():
            total = _add(pb, pt)
            entry = nxt[prefix]
            entry[0] = _add(entry[0], total + frame[BLANK])  # a blank: the prefix stays, ending in a blank
            if prefix:  # the last token held: the prefix stays, ending in that token
                entry[1] = _add(entry[1], pt + frame[prefix[-1]])
            for v in candidates:
                ext = nxt[prefix + (v,)]
                # a new token; the same token again only after a blank (else it is the held one)
                ext[1] = _add(ext[1], (pb if prefix and v == prefix[-1] else total) + frame[v])
        scored = [(p, s) for p, s in nxt.items() if _add(*s) > NINF]  # a repeat with no blank between: impossible
        ranked = sorted(scored, key=lambda kv: _add(*kv[1]), reverse=True)[:beam]
        beams = {p: (s[0], s[1]) for p, s in ranked}
    out = sorted(((list(p), _add(*s)) for p, s in beams.items()), key=lambda ps: ps[1], reverse=True)
    return out
