"""Lexical shortlist: the target pieces a sentence can plausibly use, so that decoding scores only those.

As Marian's `--shortlist`: IBM Model 1, trained by EM on the training pairs, gives p(target piece | source
piece); a sentence's shortlist is the `top` likeliest targets of each of its source pieces, plus the `frequent`
most common target pieces, EOS and UNK. The decoder's softmax then runs over this shortlist instead of the whole
vocabulary: the output layer (with its log-softmax and top-k) is, after the LSTM, the largest per-step cost of
beam search on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seq2seq.data.tokenizer import BOS, EOS, PAD, UNK, load_pair
from seq2seq.errors import UserError
from seq2seq.files import load, save

FILE = "shortlist.pt"
# chosen on Multi30k val (bench/shortlist_sweep.py): BLEU within 0.01 of the whole vocabulary in both directions
TOP, FREQUENT = 30, 300


MAX_PAIRS = 200_000  # larger corpora train the lexicon on this many pairs, evenly spread,
MAX_LINKS = 30_000_000  # or fewer, so that their (source, target) token links stay under this (8 bytes each)
CHUNK_LINKS = 2_000_000  # links per EM chunk
DENSE_ROWS = 256  # rows of the table made dense at a time, for their sums and their top k


def _ragged(rows) -> tuple[np.ndarray, np.ndarray]:
    """Id sequences -> (all ids concatenated, int64 offsets of len(rows) + 1)."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows)), out=offsets[1:])
    return np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(offsets[-1])), offsets


def _sample(src, tgt) -> tuple[list, list]:
    """The pairs EM trains on: all of them, or MAX_PAIRS evenly spread, fewer if their links exceed MAX_LINKS;
    then without the pairs that have an empty side."""
    n = len(src)
    if n > MAX_PAIRS:
        pick = torch.linspace(0, n - 1, MAX_PAIRS).long().tolist()
        links = sum((len(src[i]) + 1) * len(tgt[i]) for i in pick)
        if links > MAX_LINKS:
            pick = torch.linspace(0, n - 1, int(MAX_PAIRS * MAX_LINKS / links)).long().tolist()
        src, tgt = [src[i] for i in pick], [tgt[i] for i in pick]
    pairs = [(s, t) for s, t in zip(src, tgt) if len(s) and len(t)]
    if not pairs:
        raise UserError("the shortlist needs at least one non-empty sentence pair")
    return [s for s, _ in pairs], [t for _, t in pairs]


def _links(src, tgt, null: int, tgt_vocab: int):
    """Chunks of all (source token or NULL, target token) links: table keys (source * tgt_vocab + target), the
    number of each link's target token within the chunk, and the chunk's count of target tokens. Within a pair,
    links come target position by target position, each with its source positions and then NULL: the order of
    the EM sums, as the dense table had them."""
    (s_ids, s_off), (t_ids, t_off) = _ragged(src), _ragged(tgt)
    ls, lt = np.diff(s_off) + 1, np.diff(t_off)  # + 1: NULL
    ends = np.cumsum(ls * lt)
    cuts = np.searchsorted(ends, np.arange(CHUNK_LINKS, int(ends[-1]), CHUNK_LINKS), side="right")
    bounds = [0, *sorted(set(cuts.tolist()) - {0, len(src)}), len(src)]
    for a, b in zip(bounds, bounds[1:]):
        n = ls[a:b] * lt[a:b]
        pair = np.repeat(np.arange(b - a), n)  # each link's pair within the chunk
        k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # link number within its pair
        j, i = np.divmod(k, ls[a:b][pair])  # target position, source position (== length: NULL)
        source = np.where(i == ls[a:b][pair] - 1, null, s_ids[np.minimum(s_off[a:b][pair] + i, len(s_ids) - 1)])
        target = t_ids[t_off[a:b][pair] + j]
        owner = np.repeat(np.cumsum(lt[a:b]) - lt[a:b], n) + j
        yield torch.from_numpy(source * tgt_vocab + target), torch.from_numpy(owner).int(), int(lt[a:b].sum())


@dataclass
class Lexicon:
    """IBM Model 1's p(target | source), sparse: only pairs that co-occur in some sentence pair can be non-zero.
    `keys` = source * tgt_vocab + target, ascending; source `src_vocab` is NULL."""

    keys: torch.Tensor  # (P,) int64
    prob: torch.Tensor  # (P,) float32
    src_vocab: int
    tgt_vocab: int

    def dense(self) -> torch.Tensor:
        """The (src_vocab + 1, tgt_vocab) table (for small vocabularies: tests, inspection)."""
        table = torch.zeros((self.src_vocab + 1) * self.tgt_vocab)
        table[self.keys] = self.prob
        return table.view(self.src_vocab + 1, self.tgt_vocab)

    def per_row(self, values: torch.Tensor, fn):
        """(row ids (R,), fn(rows)[:R]) over the rows that have pairs, `values` laid out as the dense table's rows,
        DENSE_ROWS at a time (at least two, so that a reduction runs row by row): sums and top-k over a row then
        give exactly what the dense table gave."""
        rows = torch.div(self.keys, self.tgt_vocab, rounding_mode="floor")
        ids, sizes = torch.unique_consecutive(rows, return_counts=True)
        local = torch.repeat_interleave(torch.arange(len(ids)), sizes)  # each pair's row among `ids`
        cols, starts = self.keys % self.tgt_vocab, [0, *sizes.cumsum(0).tolist()]
        block = torch.empty(max(min(DENSE_ROWS, len(ids)), 2), self.tgt_vocab)
        for a in range(0, len(ids), DENSE_ROWS):
            b, lo, hi = min(a + DENSE_ROWS, len(ids)), starts[a], starts[min(a + DENSE_ROWS, len(ids))]
            block.zero_()[local[lo:hi] - a, cols[lo:hi]] = values[lo:hi]
            yield ids[a:b], fn(block[: max(b - a, 2)])[: b - a]


def ibm1(src, tgt, src_vocab: int, tgt_vocab: int, iterations: int = 5) -> Lexicon:
    """IBM Model 1 p(t | s) by EM, as a sparse `Lexicon` over the (source, target) pairs that co-occur: memory
    grows with the pairs seen, not with src_vocab x tgt_vocab (a 32k joint vocabulary is 1e9 dense entries).

    `src`/`tgt`: sequences of id sequences (lists, or a corpus store's rows). Seconds for Multi30k's 29k pairs
    (larger corpora: see `_sample`). Every sum runs in the order the dense table's EM ran it, so where both fit
    the result is that of the dense EM it replaced (tests/decode/test_shortlist.py).
    """
    src, tgt = _sample(src, tgt)
    keys = torch.unique(torch.cat([torch.unique(k) for k, _, _ in _links(src, tgt, src_vocab, tgt_vocab)]))
    chunks = [(torch.searchsorted(keys, k, out_int32=True), owner, n)  # each link as its pair's number
              for k, owner, n in _links(src, tgt, src_vocab, tgt_vocab)]
    lex = Lexicon(keys, torch.full((len(keys),), 1.0 / tgt_vocab), src_vocab, tgt_vocab)  # uniform start
    row_of = torch.div(keys, tgt_vocab, rounding_mode="floor")
    for _ in range(iterations):
        counts = torch.zeros(len(keys))
        for pair, owner, n_tgt in chunks:
            p = lex.prob[pair]  # (links,) p(t_j | s_i)
            norm = torch.zeros(n_tgt).index_add_(0, owner, p)  # over the source positions of each target token
            counts.index_add_(0, pair, p / norm[owner])
        total = torch.zeros(src_vocab + 1)
        for ids, sums in lex.per_row(counts, lambda rows: rows.sum(1)):
            total[ids] = sums
        lex.prob = counts / total[row_of].clamp_min(1e-12)
    return lex


def _frequencies(tgt, tgt_vocab: int) -> np.ndarray:
    """How often each target id occurs in `tgt` (a store's rows count their flat token array at once)."""
    flat = getattr(tgt, "tokens", None)
    if flat is None:
        flat = np.fromiter((i for t in tgt for i in t), dtype=np.int64)
    return np.bincount(np.asarray(flat, dtype=np.int64), minlength=tgt_vocab)[:tgt_vocab]


@dataclass
class Shortlist:
    """Per source piece, its likeliest target pieces; and the most frequent target pieces."""

    lexicon: torch.Tensor  # (src_vocab, top) target ids, likeliest first
    frequent: torch.Tensor  # (n,) target ids, most frequent first
    tgt_vocab: int

    @classmethod
    def train(cls, src: list[list[int]], tgt: list[list[int]], src_vocab: int, tgt_vocab: int, top: int = TOP,
              frequent: int = FREQUENT, iterations: int = 5) -> "Shortlist":
        if top < 1 or frequent < 0:
            raise UserError("the shortlist needs top >= 1 and frequent >= 0")
        return cls.from_table(ibm1(src, tgt, src_vocab, tgt_vocab, iterations), tgt, top, frequent)

    @classmethod
    def from_table(cls, table: Lexicon, tgt, top: int, frequent: int) -> "Shortlist":
        """Cut an `ibm1` lexicon to a shortlist; tgt (id sequences, or a store's rows) gives target frequencies."""
        tgt_vocab, k = table.tgt_vocab, min(top, table.tgt_vocab)
        unseen = torch.zeros(2, tgt_vocab)
        unseen[:, [PAD, BOS]] = -1.0  # never candidates
        lexicon = unseen.topk(k, dim=1).indices[:1].repeat(table.src_vocab, 1)  # a source piece never seen
        cut = lambda rows: rows.index_fill_(1, torch.tensor([PAD, BOS]), -1.0).topk(k, dim=1).indices  # noqa: E731
        for ids, best in table.per_row(table.prob, cut):
            real = ids < table.src_vocab  # NULL's row is not needed
            lexicon[ids[real]] = best[real]
        counts = torch.from_numpy(_frequencies(tgt, tgt_vocab)).float()
        counts[[PAD, BOS]] = -1.0
        freq = counts.topk(min(frequent, tgt_vocab)).indices if frequent else torch.zeros(0, dtype=torch.long)
        return cls(lexicon.to(torch.int16 if tgt_vocab < 2**15 else torch.int32), freq, tgt_vocab)

    def per_sentence(self, src: torch.Tensor) -> torch.Tensor:
        """Source ids (B, S), PAD-padded -> (B, V) bool: each sentence's own target shortlist, never PAD or BOS."""
        B = src.size(0)
        mask = torch.zeros(B, self.tgt_vocab, dtype=torch.bool, device=src.device)
        targets = self.lexicon.to(src.device)[src].long()  # (B, S, top)
        targets[src <= EOS] = PAD  # padding and specials bring no candidates (PAD is cleared below)
        mask.scatter_(1, targets.view(B, -1), True)
        mask[:, self.frequent.to(src.device)] = True
        mask[:, [EOS, UNK]] = True
        mask[:, [PAD, BOS]] = False
        return mask

    def for_batch(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The columns a batch's softmax computes, the union of its sentences' shortlists (M,), ids ascending;
        and (B, M) bool, which of them are each sentence's own: search masks the rest, so that a sentence's
        translation never depends on the sentences it is batched with."""
        own = self.per_sentence(src)
        columns = own.any(0).nonzero().squeeze(1)
        return columns, own[:, columns]

    def candidates(self, src: torch.Tensor) -> torch.Tensor:
        """Source ids (B, S) -> the union of the sentences' shortlists (M,): ids ascending, never PAD or BOS."""
        return self.for_batch(src)[0]

    # -- files -------------------------------------------------------------------------------------------
    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / FILE
        save({"lexicon": self.lexicon, "frequent": self.frequent, "tgt_vocab": self.tgt_vocab}, path)
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "Shortlist | None":
        """The model directory's shortlist, or None when it has none."""
        path = Path(model_dir) / FILE
        if not path.is_file():
            return None
        hint = f"rebuild it with `seq2seq shortlist --model {Path(model_dir)}`"
        d = load(path, what="shortlist", hint=hint)  # tensors and plain data only: pickled code is refused
        try:
            return cls(d["lexicon"], d["frequent"], int(d["tgt_vocab"]))
        except Exception as e:  # a torch file, but not a shortlist
            raise UserError(f"{path}: not a readable shortlist ({type(e).__name__}); {hint}") from None

    @classmethod
    def for_model(cls, model_dir: str | Path, src_vocab: int, tgt_vocab: int) -> "Shortlist | None":
        """The model directory's shortlist, checked against the model's vocabulary sizes; None when it has none."""
        found = cls.load(model_dir)
        if found is not None and (found.lexicon.size(0), found.tgt_vocab) != (src_vocab, tgt_vocab):
            raise UserError(f"{model_dir}: the shortlist is for vocabularies {found.lexicon.size(0)}/"
                            f"{found.tgt_vocab}, the model's are {src_vocab}/{tgt_vocab}; rebuild it with "
                            f"`seq2seq shortlist --model {model_dir}`")
        return found


def build(model_dir: str | Path, src_texts: list[str], tgt_texts: list[str], top: int = TOP,
          frequent: int = FREQUENT) -> Path:
    """Train a model directory's shortlist on parallel text with its own tokenizers, and save it there."""
    src_tok, tgt_tok = load_pair(model_dir)
    shortlist = Shortlist.train(src_tok.encode(src_texts), tgt_tok.encode(tgt_texts), len(src_tok), len(tgt_tok),
                                top, frequent)
    return shortlist.save(model_dir)
