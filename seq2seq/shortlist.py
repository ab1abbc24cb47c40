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

import torch

from seq2seq import UserError
from seq2seq.tokenizer import BOS, EOS, PAD, UNK

FILE = "shortlist.pt"
# chosen on Multi30k val (bench/shortlist_sweep.py): BLEU within 0.01 of the whole vocabulary in both directions
TOP, FREQUENT = 30, 300


MAX_TABLE = 150_000_000  # entries of the dense p(t | s) table (600 MB in float32); larger vocabularies get none
MAX_PAIRS = 200_000  # larger corpora train the lexicon on this many pairs, evenly spread
CHUNK_LINKS = 4_000_000  # (source, target) token links per EM chunk


def _links(src: list[list[int]], tgt: list[list[int]], null: int, tgt_vocab: int):
    """Chunks of all (source token or NULL, target token) links: flat table indices, the number of each link's
    target token within the chunk, and the chunk's count of target tokens."""
    flat, owner, n_tgt, size = [], [], 0, 0
    for s, t in zip(src, tgt):
        if not s or not t:
            continue
        s_ext = torch.tensor(list(s) + [null])
        t_ten = torch.tensor(t)
        flat.append(s_ext.repeat(len(t)) * tgt_vocab + t_ten.repeat_interleave(len(s_ext)))
        owner.append(torch.arange(n_tgt, n_tgt + len(t)).repeat_interleave(len(s_ext)))
        n_tgt += len(t)
        size += len(s_ext) * len(t)
        if size >= CHUNK_LINKS:
            yield torch.cat(flat), torch.cat(owner), n_tgt
            flat, owner, n_tgt, size = [], [], 0, 0
    if flat:
        yield torch.cat(flat), torch.cat(owner), n_tgt


def ibm1(src: list[list[int]], tgt: list[list[int]], src_vocab: int, tgt_vocab: int,
         iterations: int = 5) -> torch.Tensor:
    """IBM Model 1 translation table p(t | s) as a dense (src_vocab + 1, tgt_vocab) tensor; row src_vocab is NULL.

    EM over all (sentence, source position, target position) links as tensors: seconds for Multi30k's 29k pairs.
    """
    if (src_vocab + 1) * tgt_vocab > MAX_TABLE:
        raise UserError(f"vocabularies of {src_vocab} x {tgt_vocab} are too large for the shortlist's dense table")
    if not any(s and t for s, t in zip(src, tgt)):
        raise UserError("the shortlist needs at least one non-empty sentence pair")
    if len(src) > MAX_PAIRS:
        pick = torch.linspace(0, len(src) - 1, MAX_PAIRS).long().tolist()
        src, tgt = [src[i] for i in pick], [tgt[i] for i in pick]
    chunks = list(_links(src, tgt, src_vocab, tgt_vocab))
    table = torch.full(((src_vocab + 1) * tgt_vocab,), 1.0 / tgt_vocab)  # uniform start
    for _ in range(iterations):
        counts = torch.zeros_like(table)
        for flat, owner, n_tgt in chunks:
            p = table[flat]  # (links,) p(t_j | s_i)
            norm = torch.zeros(n_tgt).index_add_(0, owner, p)  # over the source positions of each target token
            counts.index_add_(0, flat, p / norm[owner])
        table = counts.view(src_vocab + 1, tgt_vocab)
        table = (table / table.sum(1, keepdim=True).clamp_min(1e-12)).view(-1)
    return table.view(src_vocab + 1, tgt_vocab)


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
    def from_table(cls, table: torch.Tensor, tgt: list[list[int]], top: int, frequent: int) -> "Shortlist":
        """Cut an `ibm1` table (src_vocab + 1, tgt_vocab) to a shortlist; tgt gives the target frequencies."""
        tgt_vocab = table.size(1)
        table = table[:-1].clone()  # NULL's row is not needed
        table[:, [PAD, BOS]] = -1.0  # never candidates
        lexicon = table.topk(min(top, tgt_vocab), dim=1).indices
        counts = torch.bincount(torch.tensor([i for t in tgt for i in t], dtype=torch.long),
                                minlength=tgt_vocab).float()
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
        from seq2seq.checkpoint import save

        path = Path(model_dir) / FILE
        save({"lexicon": self.lexicon, "frequent": self.frequent, "tgt_vocab": self.tgt_vocab}, path)
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "Shortlist | None":
        """The model directory's shortlist, or None when it has none."""
        from seq2seq.checkpoint import load

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
    from seq2seq.tokenizer import load_pair

    src_tok, tgt_tok = load_pair(model_dir)
    shortlist = Shortlist.train(src_tok.encode(src_texts), tgt_tok.encode(tgt_texts), len(src_tok), len(tgt_tok),
                                top, frequent)
    return shortlist.save(model_dir)
