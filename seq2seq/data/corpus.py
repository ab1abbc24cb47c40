"""Parallel text through HF `datasets`, offline: two aligned plain-text files, one TSV, or one JSONL file; and the
same pairs streamed a chunk at a time (`pair_chunks`) for corpora larger than memory."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from seq2seq.errors import UserError


def _datasets():
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets  # lazy: keeps start-up fast

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _readable(path: str | Path) -> str:
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{p} is a folder; give a file")
    if not p.is_file():
        raise UserError(f"file not found: {p}")
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as e:
        raise UserError(f"cannot read {p}: {e.strerror}") from None
    if p.stat().st_size == 0:
        raise UserError(f"{p} is empty")
    return str(p)


def read_lines(path: str | Path) -> list[str]:
    """One file's lines (through `datasets`' text builder), empty lines kept so that line numbers align."""
    path = _readable(path)
    try:
        ds = _datasets().load_dataset("text", data_files={"x": path}, split="x")
    except Exception as e:  # datasets wraps decoding errors in its own types
        raise UserError(f"cannot read {path} as UTF-8 text: {type(e).__name__}") from None
    lines = ds["text"]
    return [line.rstrip("\r") for line in lines]


def load_pairs(src: str | Path | None = None, tgt: str | Path | None = None, table: str | Path | None = None,
               src_key: str = "src", tgt_key: str = "tgt") -> tuple[list[str], list[str]]:
    """Source and target sentences, aligned. `table` is a .tsv (two columns) or .jsonl file (`src_key`, `tgt_key`)."""
    if table is not None:
        path = _readable(table)
        if not path.endswith((".jsonl", ".json")):
            return read_tsv(path)
        try:
            ds = _datasets().load_dataset("json", data_files={"x": path}, split="x")
        except Exception as e:
            raise UserError(f"cannot read {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
        missing = {src_key, tgt_key} - set(ds.column_names)
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}; has {', '.join(ds.column_names)}")
        return [str(x) for x in ds[src_key]], [str(x) for x in ds[tgt_key]]
    if src is None or tgt is None:
        raise UserError("need a source and a target file (or one TSV/JSONL file)")
    s, t = read_lines(src), read_lines(tgt)
    if len(s) != len(t):
        raise UserError(f"line counts differ: {src} has {len(s)} lines, {tgt} has {len(t)}")
    return s, t


def read_tsv(path: str | Path) -> tuple[list[str], list[str]]:
    """source<TAB>target per line, no quoting; blank lines are skipped, any other line must have two fields."""
    pairs = list(_tsv_pairs(read_lines(path), path))
    return [s for s, _ in pairs], [t for _, t in pairs]


# -- streaming: the same pairs, a chunk at a time -------------------------------------------------------------
CHUNK = 20_000  # pairs per chunk


def stream_lines(path: str | Path) -> Iterator[str]:
    """A file's lines one at a time, by `read_lines`' rules (UTF-8, universal newlines, empty lines kept). Python's
    own reader rather than datasets' streaming mode, which reads 2.9M lines in 20 s instead of 1 s."""
    path = _readable(path)
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as e:
        raise UserError(f"cannot read {path} as UTF-8 text: {type(e).__name__} at byte {e.start} of a line") from None


def _stream_text(src, tgt) -> Iterator[tuple[str, str]]:
    end = object()
    lines = zip(itertools.chain(stream_lines(src), [end]), itertools.chain(stream_lines(tgt), [end]))
    for n, (s, t) in enumerate(lines):
        if s is end or t is end:
            if s is not end or t is not end:  # one file ended first: count the other's remaining lines
                more = 1 + sum(1 for _ in lines)
                counts = (n + more, n) if t is end else (n, n + more)
                raise UserError(f"line counts differ: {src} has {counts[0]} lines, {tgt} has {counts[1]}")
            return
        yield s, t


def _stream_tsv(path) -> Iterator[tuple[str, str]]:
    return _tsv_pairs(stream_lines(path), path)


def _tsv_pairs(lines, path) -> Iterator[tuple[str, str]]:
    """(source, target) of each non-blank `source<TAB>target` line; any other line is one error naming it."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise UserError(f"{path}:{n}: expected 2 tab-separated columns, found {len(cols)}")
        yield cols[0], cols[1]


def _stream_json(path, src_key: str, tgt_key: str) -> Iterator[tuple[str, str]]:
    try:
        ds = _datasets().load_dataset("json", data_files={"x": path}, split="x", streaming=True)
        for batch in ds.iter(batch_size=CHUNK):
            missing = {src_key, tgt_key} - set(batch)
            if missing:
                raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}; has {', '.join(batch)}")
            yield from zip(map(str, batch[src_key]), map(str, batch[tgt_key]))
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot read {path}: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None


def pair_chunks(src: str | Path | None = None, tgt: str | Path | None = None, table: str | Path | None = None,
                src_key: str = "src", tgt_key: str = "tgt", limit: int | None = None,
                size: int = CHUNK) -> Iterator[tuple[list[str], list[str]]]:
    """The pairs `load_pairs` gives, as (sources, targets) chunks of `size` pairs, only the first `limit` if
    given: a corpus of any size goes through a few MB of memory. Errors are `load_pairs`' (raised on reaching
    them: `count_pairs` checks a whole corpus first)."""
    if table is not None:
        path = _readable(table)
        pairs = _stream_json(path, src_key, tgt_key) if path.endswith((".jsonl", ".json")) else _stream_tsv(path)
    elif src is None or tgt is None:
        raise UserError("need a source and a target file (or one TSV/JSONL file)")
    else:
        pairs = _stream_text(src, tgt)
    pairs = itertools.islice(pairs, limit)
    while chunk := list(itertools.islice(pairs, size)):
        yield [s for s, _ in chunk], [t for _, t in chunk]


def count_pairs(*args, **kw) -> int:
    """How many pairs `pair_chunks(*args, **kw)` gives, reading (and so checking) the whole corpus once."""
    return sum(len(s) for s, _ in pair_chunks(*args, **kw))


# -- Multi30k (WMT16-18 multimodal task 1) -----------------------------------------------------------------
MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{split}.{lang}.gz"
MULTI30K_SPLITS = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")


def multi30k_root(root: str | Path | None = None) -> Path:
    """The folder holding task1/raw/: `root`, else $MULTI30K, else ../shared/data/multi30k beside the repo."""
    candidates = [root] if root else [os.environ.get("MULTI30K"),
                                      Path(__file__).resolve().parents[3] / "shared" / "data" / "multi30k",
                                      Path("../shared/data/multi30k")]
    for c in candidates:
        if c and (Path(c) / "task1" / "raw").is_dir():
            return Path(c)
    raise UserError(f"Multi30k not found (looked in {', '.join(str(c) for c in candidates if c)}); "
                    f"download it with `python data/multi30k.py --download DIR` (from {MULTI30K_URL.split('{')[0]})"
                    f" and pass the folder")


def multi30k(split: str, src: str, tgt: str, root: str | Path | None = None) -> tuple[list[str], list[str]]:
    """One Multi30k split as aligned (source, target) sentences, e.g. multi30k("val", "en", "de")."""
    if split not in MULTI30K_SPLITS:
        raise UserError(f"unknown Multi30k split {split!r}; one of {', '.join(MULTI30K_SPLITS)}")
    raw = multi30k_root(root) / "task1" / "raw"
    return load_pairs(raw / f"{split}.{src}", raw / f"{split}.{tgt}")


# -- image-caption sets -------------------------------------------------------------------------------------
FLICKR8K_SPLITS = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
                   "test": "Flickr_8k.testImages.txt"}
FLICKR8K_URL = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"  # Flickr8k_Dataset.zip, _text.zip


def normalize_caption(text: str) -> str:
    """Lowercase, drop tokens that are only punctuation, single spaces: the form captions are trained and scored in."""
    return " ".join(t for t in text.lower().split() if any(ch.isalnum() for ch in t))


def dataset_root(name: str, root: str | Path | None = None) -> Path:
    candidates = [root] if root else [Path(__file__).resolve().parents[3] / "shared" / "data" / name,
                                      Path("../shared/data") / name]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    raise UserError(f"{name} not found (looked in {', '.join(str(c) for c in candidates)}); give its folder")


def flickr8k(split: str, root: str | Path | None = None) -> tuple[list[Path], list[list[str]]]:
    """Image paths of one standard split (6000/1000/1000) and, per image, all its (normalized) captions."""
    if split not in FLICKR8K_SPLITS:
        raise UserError(f"unknown Flickr8k split {split!r}; one of {', '.join(FLICKR8K_SPLITS)}")
    base = dataset_root("flickr8k", root)
    names = [n.strip() for n in read_lines(base / FLICKR8K_SPLITS[split]) if n.strip()]
    caps: dict[str, list[str]] = {}
    for line in read_lines(base / "Flickr8k.token.txt"):
        if "\t" in line:
            key, text = line.split("\t", 1)
            caps.setdefault(key.split("#")[0], []).append(normalize_caption(text))
    missing = [n for n in names if n not in caps]
    if missing:
        raise UserError(f"{base}: no captions for {len(missing)} images of the {split} split (e.g. {missing[0]})")
    return [base / "images" / n for n in names], [caps[n] for n in names]


def caption_table(path: str | Path, images_dir: str | Path | None) -> tuple[list[Path], list[list[str]]]:
    """A TSV of image<TAB>caption lines (several lines per image allowed), grouped by image."""
    base = Path(images_dir) if images_dir else Path(path).parent
    src, tgt = read_tsv(_readable(path))
    order: dict[str, list[str]] = {}
    for image, caption in zip(src, tgt):
        order.setdefault(image, []).append(normalize_caption(caption))
    return [base / k for k in order], list(order.values())
