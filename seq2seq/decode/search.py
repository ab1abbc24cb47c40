"""Greedy and beam search over a `Stepper` (the decoder, or its fast inference step), batched as tensors.

Beam search keeps `beam` live hypotheses per sentence. Each step it takes the top 2*beam candidates, so that
hypotheses that end (EOS) never shrink the beam: those ending among the top `beam` go to a finished store of the
n best, scored with GNMT length normalisation, and the best `beam` non-EOS candidates live on (`select`, a pure
function). A sentence is done when no live hypothesis can still beat its n-th finished one; done sentences leave
the batch at once, so every step computes only the rows still searching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from seq2seq.config import SearchConfig
from seq2seq.data.tokenizer import BOS, EOS, PAD
from seq2seq.model.interface import EncoderOutput, Stepper

NINF = float("-inf")


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


def never_next(ids: torch.Tensor) -> torch.Tensor:
    """For token ids (M,), which are never a next token: PAD and BOS (M,) bool."""
    return (ids == PAD) | (ids == BOS)


@dataclass
class Columns:
    """What the logits' columns are: every id, or a shortlist's ids; the rules on them, worked out once."""

    ids: torch.Tensor | None  # (M,) the shortlist's ids, or None: column j is token j
    banned: torch.Tensor  # (V,) PAD and BOS: never a next token
    not_eos: torch.Tensor  # (V,) all but EOS: ruled out at the length cap
    own: torch.Tensor | None = None  # (B, V) per sentence of the batch, its own columns (a shortlist); None: all
    no_repeat: int = 0  # n: no output repeats an n-gram of itself (0: off)

    @classmethod
    def of(cls, ids: torch.Tensor | None, width: int, device, own: torch.Tensor | None = None,
           no_repeat: int = 0) -> "Columns":
        every = ids if ids is not None else torch.arange(width, device=device)
        return cls(ids, never_next(every), every != EOS, None if own is None else own.to(device),
                   no_repeat)

    def tokens(self, cols: torch.Tensor) -> torch.Tensor:
        return cols if self.ids is None else self.ids[cols]

    def block_repeats(self, logp: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """logp (R, V) with -inf for each row's tokens that would repeat an n-gram of its prefix (R, t)."""
        rows, banned = repeat_bans(prefix, self.no_repeat)
        if rows.numel() == 0:
            return logp
        if self.ids is not None:  # token ids -> the shortlist's columns (ids not in it need no ban)
            col = torch.full((int(max(self.ids.max(), banned.max())) + 1,), -1, dtype=torch.long, device=logp.device)
            col[self.ids] = torch.arange(self.ids.numel(), device=logp.device)
            rows, banned = rows[col[banned] >= 0], col[banned][col[banned] >= 0]
        return logp.index_put((rows, banned), torch.tensor(NINF, device=logp.device))


def repeat_bans(prefix: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, tokens): for each row of prefix (R, t), the tokens that would complete an n-gram it already holds:
    wherever its last n-1 tokens occurred before, the token that followed them (n = 1: every token it holds)."""
    R, t = prefix.shape
    if n < 1 or t < n:
        return prefix.new_zeros(0), prefix.new_zeros(0)
    windows = prefix.unfold(1, n, 1)  # (R, t - n + 1, n): every n-gram of the prefix
    match = (windows[:, :, : n - 1] == prefix[:, t - n + 1 :].unsqueeze(1)).all(-1)  # (R, t - n + 1)
    rows, pos = match.nonzero(as_tuple=True)
    return rows, windows[rows, pos, n - 1]


def next_logp(logits: torch.Tensor, force_eos: torch.Tensor, columns: Columns,
              sentences: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (b, ..., V) of the next token for these `sentences` (b,) of the batch: never PAD or BOS;
    only EOS where `force_eos` (b,) is set (the length cap). With a shortlist, the softmax runs over each
    sentence's own shortlist only."""
    logits = logits.float()
    if columns.own is not None:
        own = columns.own[sentences]  # (b, V)
        logits = logits.masked_fill(~own.view(own.size(0), *(1,) * (logits.dim() - 2), -1), NINF)
    logp = torch.log_softmax(logits, dim=-1)
    logp.masked_fill_(columns.banned, NINF)
    if bool(force_eos.any()):  # at the length cap, EOS keeps its own log-probability; all else is ruled out
        shape = (-1,) + (1,) * (logp.dim() - 1)
        logp = logp.masked_fill(force_eos.view(shape) & columns.not_eos, NINF)
    return logp


@dataclass
class Selection:
    """One beam step's choices, for b sentences with K live and N finished hypotheses each."""

    beam: torch.Tensor  # (b, 2K) the live hypothesis each of the 2K best candidates extends
    token: torch.Tensor  # (b, 2K) the token it adds
    fin_scores: torch.Tensor  # (b, N) the N best finished scores after this step (length-normalised)
    fin_pick: torch.Tensor  # (b, N) where they come from: indices into [finished (N); candidates (2K)]
    alive_scores: torch.Tensor  # (b, K) summed log-probabilities of the hypotheses that live on
    alive_pick: torch.Tensor  # (b, K) indices into the candidates


def select(logp: torch.Tensor, alive_scores: torch.Tensor, fin_scores: torch.Tensor, t: int, alpha: float,
           columns: Columns) -> Selection:
    """Pure beam step: logp (b, K, V) of each live hypothesis' next token, alive_scores (b, K), fin_scores (b, N).

    The 2K best extensions are the candidates. As in fairseq, one that ends (EOS) counts only if it ranks among
    the top K (so beam 1 is exactly greedy); it then competes, normalised by length t + 1, for the N finished
    places. The K best candidates that did not end live on."""
    b, K, V = logp.shape
    cand = (alive_scores.unsqueeze(-1) + logp).view(b, K * V)
    top_scores, top_idx = cand.topk(2 * K, dim=1)  # (b, 2K)
    beam, token = top_idx // V, columns.tokens(top_idx % V)
    is_eos = token == EOS
    beyond_k = torch.arange(2 * K, device=logp.device) >= K
    eos_scores = (top_scores / length_penalty(float(t + 1), alpha)).masked_fill(~is_eos | beyond_k, NINF)
    fin_scores, fin_pick = torch.cat([fin_scores, eos_scores], dim=1).topk(fin_scores.size(1), dim=1)
    alive_scores, alive_pick = top_scores.masked_fill(is_eos, NINF).topk(K, dim=1)
    return Selection(beam, token, fin_scores, fin_pick, alive_scores, alive_pick)


@dataclass
class _Hyps:
    """Hypotheses of the sentences still searching: scores (b, n), tokens (b, n, T), attention (b, n, T, S)."""

    scores: torch.Tensor | None  # None while unscored (candidates)
    seqs: torch.Tensor
    attn: torch.Tensor | None  # None unless attention was asked for (and the model has it)

    @classmethod
    def empty(cls, b: int, n: int, T: int, S: int, device, attention: bool) -> "_Hyps":
        return cls(torch.full((b, n), NINF, device=device), torch.full((b, n, T), PAD, dtype=torch.long,
                   device=device), torch.zeros(b, n, T, S, device=device) if attention else None)

    def pick(self, index: torch.Tensor, scores: torch.Tensor | None) -> "_Hyps":
        """The hypotheses at `index` (b, k), with these scores (b, k)."""
        rows = torch.arange(index.size(0), device=index.device).unsqueeze(1)
        return _Hyps(scores, self.seqs[rows, index], None if self.attn is None else self.attn[rows, index])

    def extend(self, sel: Selection, t: int, attn: torch.Tensor | None) -> "_Hyps":
        """The candidates: each live hypothesis `sel.beam` (b, 2K) with `sel.token` at step t; attn (b*K, S)."""
        out = self.pick(sel.beam, None)
        out.seqs[:, :, t] = sel.token
        if out.attn is not None:
            b, S = sel.beam.size(0), attn.size(-1)
            out.attn[:, :, t] = attn.float().view(b, -1, S).gather(1, sel.beam.unsqueeze(-1).expand(-1, -1, S))
        return out

    def then(self, other: "_Hyps") -> "_Hyps":
        """These hypotheses followed by others, per sentence (unscored)."""
        attn = None if self.attn is None else torch.cat([self.attn, other.attn], dim=1)
        return _Hyps(None, torch.cat([self.seqs, other.seqs], dim=1), attn)

    def keep(self, index: torch.Tensor) -> "_Hyps":
        """The sentences at `index` (a bool mask or ids)."""
        return _Hyps(self.scores[index], self.seqs[index], None if self.attn is None else self.attn[index])


def _trim(seq: list[int]) -> list[int]:
    return seq[: seq.index(EOS)] if EOS in seq else [t for t in seq if t != PAD]


def _results(out: _Hyps) -> Hypotheses:
    """Token lists without BOS/EOS/PAD, scores, and attention cut to each hypothesis' length (EOS included)."""
    tokens = [[_trim(s) for s in sent] for sent in out.seqs.tolist()]
    attention = None
    if out.attn is not None:
        a = out.attn.cpu()
        attention = [[a[b, n, : len(seq) + 1] for n, seq in enumerate(sent)] for b, sent in enumerate(tokens)]
    return Hypotheses(tokens, out.scores.tolist(), attention)


@torch.inference_mode()
def greedy_search(decoder: Stepper, enc: EncoderOutput, max_len: torch.Tensor, return_attention: bool = False,
                  own: torch.Tensor | None = None, no_repeat_ngram: int = 0, pick=None) -> Hypotheses:
    """Arg-max decoding; max_len (B,) caps each output (EOS included). Ended sentences leave the batch.
    own (B, M): with a shortlist (`decoder.columns`), each sentence's own columns. no_repeat_ngram n > 0: no
    output holds an n-gram twice. pick: another choice of each row's next token, logp (b, V) -> (its log-prob
    (b,), its column (b,)), e.g. a random draw (seq2seq.decode.sampling)."""
    B, device = enc.memory.size(0), enc.memory.device
    max_len = max_len.to(device)
    out = _Hyps.empty(B, 1, int(max_len.max()), enc.memory.size(1), device, return_attention)
    out.scores.zero_()
    act = torch.arange(B, device=device)  # the sentences still decoding
    keys, state = decoder.precompute(enc), decoder.init_state(enc)
    tokens = torch.full((B,), BOS, dtype=torch.long, device=device)
    columns = None
    for t in range(out.seqs.size(2)):
        logits, state, attn = decoder.step(tokens, state, enc, keys)
        columns = columns or Columns.of(decoder.columns, logits.size(-1), device, own, no_repeat_ngram)
        logp = next_logp(logits, t >= max_len - 1, columns, act)  # (b, V)
        if no_repeat_ngram:
            logp = columns.block_repeats(logp, out.seqs[act, 0, :t])
        best, cols = logp.max(dim=-1) if pick is None else pick(logp)  # (b,)
        tokens = columns.tokens(cols)
        out.scores[act, 0] += best
        out.seqs[act, 0, t] = tokens
        if out.attn is not None:
            if attn is None:  # a decoder without attention
                out.attn = None
            else:
                out.attn[act, 0, t] = attn.float()
        ended = tokens == EOS
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            act, max_len, tokens, state = act[keep], max_len[keep], tokens[keep], state.select(keep)
            enc, keys = _keep(enc, keys, keep)
    return _results(out)


def _keep(enc: EncoderOutput, keys: torch.Tensor | None, keep: torch.Tensor):
    """Encoder output and attention keys of the sentences that stay in the batch."""
    return enc.select(keep), (keys.index_select(0, keep) if keys is not None else None)


@torch.inference_mode()
def beam_search(decoder: Stepper, enc: EncoderOutput, max_len: torch.Tensor, beam: int = 5, alpha: float = 0.6,
                nbest: int = 1, return_attention: bool = False, own: torch.Tensor | None = None,
                no_repeat_ngram: int = 0) -> Hypotheses:
    """Batched beam search. Scores are sum log-probabilities / length_penalty(len incl. EOS, alpha).
    own (B, M): with a shortlist (`decoder.columns`), each sentence's own columns. no_repeat_ngram n > 0: no
    hypothesis holds an n-gram twice."""
    if not 1 <= nbest <= beam:
        raise ValueError("need 1 <= nbest <= beam")
    B, K, device = enc.memory.size(0), beam, enc.memory.device
    max_len = max_len.to(device)
    act = torch.arange(B, device=device)  # the sentences still searching (indices into B)

    # the first step is the same for all K beams of a sentence: take it once per sentence, then copy K times.
    # enc and keys stay one row per sentence: each serves its sentence's K beams (group=K).
    keys, state = decoder.precompute(enc), decoder.init_state(enc)
    logits, state, attn = decoder.step(torch.full((B,), BOS, dtype=torch.long, device=device), state, enc, keys)
    expand = act.repeat_interleave(K)  # (B*K,)
    state, logits = state.select(expand), logits.index_select(0, expand)
    attn = attn.index_select(0, expand) if attn is not None else None
    columns = Columns.of(decoder.columns, logits.size(-1), device, own, no_repeat_ngram)
    tokens = None  # the next step's input, set by each step from the first on

    T, S = int(max_len.max()), enc.memory.size(1)
    attention = return_attention and attn is not None
    out = _Hyps.empty(B, nbest, T, S, device, attention)  # written as each sentence leaves the batch
    alive = _Hyps.empty(B, K, T, S, device, attention)  # rows are sentence-major: (sentence, beam)
    alive.scores[:, 0] = 0.0  # all beams start identical: keep one
    fin = _Hyps.empty(B, nbest, T, S, device, attention)
    lp_max = length_penalty(max_len.float(), alpha)  # (b,)

    for t in range(T):
        b = act.numel()
        if t > 0:
            logits, state, attn = decoder.step(tokens, state, enc, keys, group=K)
        logp = next_logp(logits.view(b, K, -1), t >= max_len - 1, columns, act)
        if no_repeat_ngram:
            logp = columns.block_repeats(logp.view(b * K, -1), alive.seqs[:, :, :t].reshape(b * K, t)).view(b, K, -1)
        sel = select(logp, alive.scores, fin.scores, t, alpha, columns)
        cand = alive.extend(sel, t, attn)  # (b, 2K) hypotheses
        fin = fin.then(cand).pick(sel.fin_pick, sel.fin_scores)
        alive = cand.pick(sel.alive_pick, sel.alive_scores)
        tokens = sel.token.gather(1, sel.alive_pick)  # (b, K)
        rows = sel.beam.gather(1, sel.alive_pick) + torch.arange(b, device=device).unsqueeze(1) * K  # (b, K)

        # done: the best live score, even at its most favourable length, cannot beat the n-th finished one
        bound = alive.scores[:, 0] / (lp_max if alpha > 0 else 1.0)
        done = (fin.scores[:, -1] >= bound) | torch.isinf(alive.scores[:, 0])  # (b,)
        if bool(done.any()):  # done sentences hand in their results and leave the batch
            _hand_in(out, act[done], fin.keep(done))
            keep = (~done).nonzero().squeeze(1)  # (b',)
            if keep.numel() == 0:
                break
            act, max_len, lp_max, tokens, rows = act[keep], max_len[keep], lp_max[keep], tokens[keep], rows[keep]
            alive, fin = alive.keep(keep), fin.keep(keep)
            enc, keys = _keep(enc, keys, keep)
        tokens = tokens.view(-1)
        state = state.select(rows.view(-1))
    else:  # the length cap ends every search; this only runs if the loop did not break
        _hand_in(out, act, fin)
    return _results(out)


def _hand_in(out: _Hyps, sentences: torch.Tensor, fin: _Hyps) -> None:
    out.scores[sentences], out.seqs[sentences] = fin.scores, fin.seqs
    if out.attn is not None:
        out.attn[sentences] = fin.attn


def decode(decoder: Stepper, enc: EncoderOutput, src_lengths: torch.Tensor, search: SearchConfig,
           return_attention: bool = False, own: torch.Tensor | None = None) -> Hypotheses:
    """Greedy when search.beam == 1, else beam search, with the settings' alpha, nbest and no_repeat_ngram; the
    output cap follows each source's length (max_len_ratio, max_len_offset). own (B, M): with a shortlist, each
    sentence's own columns (Shortlist.for_batch)."""
    max_len = max_lengths(src_lengths, search.max_len_ratio, search.max_len_offset)
    if search.beam == 1:
        return greedy_search(decoder, enc, max_len, return_attention, own, search.no_repeat_ngram)
    return beam_search(decoder, enc, max_len, search.beam, search.alpha, search.nbest, return_attention, own,
                       search.no_repeat_ngram)
