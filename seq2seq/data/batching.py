"""Batches of id sequences: filtering, padding with masks, and length-bucketed batches under a token budget."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seq2seq.data.tokenizer import BOS, EOS, PAD


@dataclass
class Batch:
    """A padded batch. `tgt_in` starts with BOS, `tgt_out` ends with EOS; both are PAD-padded."""

    src: torch.Tensor  # (B, S) long
    src_lengths: torch.Tensor  # (B,) long
    tgt_in: torch.Tensor | None = None  # (B, T) long
    tgt_out: torch.Tensor | None = None  # (B, T) long
    index: torch.Tensor | None = None  # (B,) position of each example in the dataset

    @property
    def src_mask(self) -> torch.Tensor:
        return self.src != PAD  # (B, S) bool, True on real tokens

    @property
    def n_tgt_tokens(self) -> int:
        return int((self.tgt_out != PAD).sum()) if self.tgt_out is not None else 0

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.src), self.src_lengths, move(self.tgt_in), move(self.tgt_out), self.index)


def pad(seqs: list[list[int]], value: int = PAD) -> torch.Tensor:
    """Right-pad id lists into a (len(seqs), max_len) long tensor."""
    width = max((len(s) for s in seqs), default=0)
    out = torch.full((len(seqs), max(width, 1)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def pad_frames(utterances: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature frames of several utterances, each (T_i, F) -> zero-padded (B, T, F) and their lengths (B,)."""
    lengths = torch.tensor([len(u) for u in utterances], dtype=torch.long)
    out = torch.zeros(len(utterances), int(lengths.max()) if len(utterances) else 0,
                      utterances[0].size(1) if utterances else 1)
    for i, u in enumerate(utterances):
        out[i, : len(u)] = u
    return out, lengths


def teacher_forcing(tgt: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder's input and gold output for target sentences: BOS + s and s + EOS, each (B, T) PAD-padded."""
    return pad([[BOS] + t for t in tgt]), pad([t + [EOS] for t in tgt])


def collate(src: list[list[int]], tgt: list[list[int]] | None = None, index: list[int] | None = None) -> Batch:
    """Source gets EOS appended (so no sentence is empty); target gets BOS/EOS for teacher forcing."""
    src = [s + [EOS] for s in src]
    lengths = torch.tensor([len(s) for s in src], dtype=torch.long)
    tgt_in = tgt_out = None
    if tgt is not None:
        tgt_in, tgt_out = teacher_forcing(tgt)
    idx = torch.tensor(index, dtype=torch.long) if index is not None else None
    return Batch(pad(src), lengths, tgt_in, tgt_out, idx)


def lm_batch(ids: list[list[int]]) -> Batch:
    """Sentences -> a language model's teacher-forcing batch; the source is a dummy (B, 1) column (a language
    model's NoEncoder reads only its batch size)."""
    B = len(ids)
    return Batch(torch.zeros(B, 1, dtype=torch.long), torch.ones(B, dtype=torch.long), *teacher_forcing(ids))


@dataclass
class FilterStats:
    kept: int = 0
    too_short: int = 0
    too_long: int = 0
    bad_ratio: int = 0

    def __iadd__(self, other: "FilterStats") -> "FilterStats":
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def __str__(self) -> str:
        total = self.kept + self.too_short + self.too_long + self.bad_ratio
        return (f"kept {self.kept:,} of {total:,} pairs (dropped: {self.too_short:,} too short, "
                f"{self.too_long:,} too long, {self.bad_ratio:,} length ratio)")


def filter_pairs(src: list[list[int]], tgt: list[list[int]], min_len: int, max_len: int,
                 max_ratio: float) -> tuple[list[int], FilterStats]:
    """Indices of pairs whose both sides have min_len..max_len tokens and whose length ratio is <= max_ratio."""
    keep, st = [], FilterStats()
    for i, (s, t) in enumerate(zip(src, tgt)):
        ls, lt = len(s), len(t)
        if min(ls, lt) < min_len:
            st.too_short += 1
        elif max(ls, lt) > max_len:
            st.too_long += 1
        elif max(ls, lt) > max_ratio * min(ls, lt):
            st.bad_ratio += 1
        else:
            st.kept += 1
            keep.append(i)
    return keep, st


class Batches(Sequence):
    """An epoch's batches, compact for corpora of millions of pairs: the examples in length order (one int array)
    and where each batch starts in it; `batches[i]` is batch i's example indices (an int64 array)."""

    def __init__(self, order: np.ndarray, bounds: np.ndarray, perm: list[int]):
        self.order, self.bounds, self.perm = order, bounds, perm

    def __len__(self) -> int:
        return len(self.perm)

    def __getitem__(self, i: int) -> np.ndarray:
        b = self.perm[i]
        return self.order[self.bounds[b] : self.bounds[b + 1]]


def bucket_batches(src_lens, tgt_lens, batch_tokens: int, seed: int | None = None, epoch: int = 0) -> Batches:
    """Group example indices into batches of similar length whose padded size stays within `batch_tokens`.

    With a seed, examples are shuffled within length ties and the batch order is shuffled, deterministically
    for (seed, epoch); without one, batches come in length order (for decoding). Lengths are sequences or
    arrays; memory is a few bytes per example, whatever the corpus size.
    """
    src, tgt = np.asarray(src_lens, dtype=np.int32), np.asarray(tgt_lens, dtype=np.int32)
    n = len(src)
    rng = random.Random(None if seed is None else seed * 100_003 + epoch)
    if seed is None:
        order = np.lexsort((src, tgt))  # stable: index order within ties
    else:
        keys = np.fromiter((rng.random() for _ in range(n)), dtype=np.float64, count=n)
        order = np.lexsort((keys, src, tgt))  # by target length, then source length, then the random key
        del keys
    widths = np.maximum(src, tgt)[order]  # each example's padded width, less one
    bounds, size, widest = [0], 0, 0
    for start in range(0, n, 1 << 16):  # a chunk at a time: no list of n Python ints
        for k, w in enumerate(widths[start : start + (1 << 16)].tolist(), start):
            grown = max(widest, w + 1)
            if size and grown * (size + 1) > batch_tokens:
                bounds.append(k)
                size, grown = 0, w + 1
            size, widest = size + 1, grown
    if n:
        bounds.append(n)
    perm = list(range(len(bounds) - 1))
    if seed is not None:
        rng.shuffle(perm)
    return Batches(order.astype(np.int32), np.asarray(bounds, dtype=np.int64), perm)


def token_batches(src_lens, tgt_lens, batch_tokens: int, seed: int | None = None, epoch: int = 0) -> list[list[int]]:
    """`bucket_batches` as lists of indices (for validation and decoding sets)."""
    return [b.tolist() for b in bucket_batches(src_lens, tgt_lens, batch_tokens, seed, epoch)]


def step_share(pos: int, n_batches: int, world: int, accum: int, rank: int) -> tuple[list[int], int]:
    """One optimizer step of data-parallel training: the epoch's batches `pos`, `pos + 1`, ... up to
    `world * accum` of them (fewer at the epoch's end), dealt round-robin to the processes; returns this rank's
    batch numbers (its micro-batches, at most `accum`, possibly none at the end of an epoch) and how many
    batches the whole step takes. Every batch of an epoch goes to exactly one rank, once."""
    span = min(world * accum, n_batches - pos)
    return [pos + k for k in range(rank, span, world)], span
