"""Tokenized training pairs as numpy memory maps, built once per (corpus files, tokenizer, data settings) in the
corpus cache (`data.cache_dir`) and shared by later runs and by every process of a data-parallel run. Only the
length arrays live in RAM; a batch reads its rows from the page cache. With no cache folder the same arrays are
built in memory instead.

A store is fairseq's indexed-dataset layout: per side, all token ids in one flat file and the offsets of each
pair's row in a second one; `meta.json` last, so a folder without it is never used.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from seq2seq.data.batching import FilterStats, filter_pairs
from seq2seq.errors import UserError

VERSION = 1  # of the layout; part of every key


def fingerprint(paths: Iterable[str | Path]) -> str:
    """sha256 of the files' bytes, in order: the same corpus wherever it lives, a changed byte a new key (reading
    a corpus costs far less than tokenizing it)."""
    h = hashlib.sha256()
    for p in paths:
        try:
            with open(p, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
        except FileNotFoundError:
            raise UserError(f"file not found: {p}") from None
        except IsADirectoryError:
            raise UserError(f"{p} is a folder; give a file") from None
        except OSError as e:
            raise UserError(f"cannot read {p}: {e.strerror or e}") from None
    return h.hexdigest()


def key(*parts) -> str:
    """A short stable name for the JSON-able `parts` (settings, fingerprints)."""
    return hashlib.sha256(json.dumps([VERSION, *parts], sort_keys=True, default=str).encode()).hexdigest()[:24]


class Rows(Sequence):
    """One side's rows: `rows[i]` is pair i's ids (a list); `tokens` all ids, `offsets` where each row starts."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray):
        self.tokens, self.offsets = tokens, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i) -> list[int]:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]].tolist()

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets).astype(np.int32)  # (n,) in RAM: 4 bytes a pair


class Side:
    """Rows being written: ids appended to a file (or kept as arrays in memory), lengths kept in memory."""

    def __init__(self, file: Path | None, vocab: int):
        self.file = file
        self.dtype = np.uint16 if vocab <= 2**16 else np.int32
        self.out = open(file, "wb") if file else None
        self.parts: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def add(self, rows: list[list[int]]) -> None:
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        ids = np.fromiter(itertools.chain.from_iterable(rows), dtype=self.dtype, count=int(lengths.sum()))
        if self.out:
            self.out.write(ids.tobytes())
        else:
            self.parts.append(ids)
        self.lengths.append(lengths)

    def close(self) -> Rows | None:
        """The rows, when in memory; written files are opened by `PairStore.open`."""
        offsets = np.zeros(sum(map(len, self.lengths)) + 1, dtype=np.int64)
        np.cumsum(np.concatenate([np.zeros(0, np.int64), *self.lengths]), out=offsets[1:])
        if self.out is None:
            return Rows(np.concatenate([np.zeros(0, self.dtype), *self.parts]), offsets)
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        np.save(self.file.with_suffix(".off.npy"), offsets)
        return None


class PairStore:
    """The filtered training pairs as ids: `src` and `tgt` rows, and what filtering dropped (`stats`)."""

    def __init__(self, src: Rows, tgt: Rows, stats: str, folder: Path | None = None):
        self.src, self.tgt, self.stats, self.folder = src, tgt, stats, folder

    def __len__(self) -> int:
        return len(self.src)

    @classmethod
    def build(cls, chunks: Iterable[tuple[list[str], list[str]]], src_tok, tgt_tok, data,
              folder: Path | None = None) -> "PairStore | None":
        """Tokenize and filter (`data.min_len`/`max_len`/`max_ratio`) the pairs of `chunks`, a chunk at a time:
        in memory (returns the store), or into `folder`'s files (returns None: open the folder when in place)."""
        sides = [Side(folder / f"{name}.bin" if folder else None, len(tok))
                 for name, tok in (("src", src_tok), ("tgt", tgt_tok))]
        stats = FilterStats()
        for src_text, tgt_text in chunks:
            src_ids, tgt_ids = src_tok.encode(src_text), tgt_tok.encode(tgt_text)
            keep, st = filter_pairs(src_ids, tgt_ids, data.min_len, data.max_len, data.max_ratio)
            stats += st
            sides[0].add([src_ids[i] for i in keep])
            sides[1].add([tgt_ids[i] for i in keep])
        src, tgt = (side.close() for side in sides)
        if folder is None:
            return cls(src, tgt, str(stats))
        meta = {"version": VERSION, "pairs": stats.kept, "stats": str(stats),
                "dtype": [np.dtype(s.dtype).name for s in sides]}
        (folder / "meta.json").write_text(json.dumps(meta))
        return None

    @classmethod
    def open(cls, folder: Path) -> "PairStore | None":
        """The store in `folder` as memory maps; None when it is missing or incomplete."""
        try:
            meta = json.loads((folder / "meta.json").read_text())
            sides = []
            for name, dtype in zip(("src", "tgt"), meta["dtype"]):
                offsets = np.load(folder / f"{name}.off.npy", mmap_mode="r")
                tokens = np.memmap(folder / f"{name}.bin", dtype=dtype, mode="r") if offsets[-1] else \
                    np.zeros(0, dtype)
                if len(tokens) != offsets[-1] or len(offsets) != meta["pairs"] + 1:
                    return None
                sides.append(Rows(tokens, offsets))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(*sides, meta["stats"], folder)


@contextmanager
def building(folder: Path):
    """Build `folder` at most once at a time: yields a temporary folder to fill (renamed to `folder` when the
    block ends without error), or None when `folder` exists already (built by another run or process, perhaps
    while this one waited for the lock)."""
    import fcntl  # lazy: POSIX-only

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = open(folder.parent / f"{folder.name}.lock", "a+")
    except OSError as e:
        raise UserError(f"cannot write the corpus cache {folder.parent}: {e.strerror or e}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel if this process dies
        if folder.is_dir():
            yield None
            return
        for old in folder.parent.glob(f"{folder.name}.tmp-*"):  # left by a killed build
            shutil.rmtree(old, ignore_errors=True)
        tmp = folder.parent / f"{folder.name}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            yield tmp
            os.rename(tmp, folder)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):  # a full disk, an unwritable folder
                raise UserError(f"cannot write the corpus cache {folder}: {e.strerror or e}") from None
            raise
