"""The report's inputs, read and checked before any decoding: a translation test set (source and reference
files), a captioning one (a caption table, optionally an image list, or a known dataset), and --compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seq2seq.data.corpus import caption_table, flickr8k, read_lines
from seq2seq.errors import UserError
from seq2seq.hub import shipped
from seq2seq.report.options import ReportOptions


@dataclass
class TestSet:
    """What is evaluated, whichever the task."""

    task: str  # translate | caption
    sources: list[str]  # source sentences, or image paths
    refs: list[list[str]]  # per item, its references
    streams: list[list[str]]  # reference streams as sacreBLEU takes them, each one line per item
    described: list[tuple[str, str]]  # (what, where) for the report's header and card
    lengths: list[int]  # per item, for the length analysis
    length_name: str
    baseline: list[str] | None = None  # --compare given as a hypothesis file

    def __len__(self) -> int:
        return len(self.sources)


def read_test_set(opts: ReportOptions) -> TestSet:
    return read_translation(opts) if opts.task == "translate" else read_captioning(opts)


def read_translation(opts: ReportOptions) -> TestSet:
    src = read_lines(opts.src)
    refs = [read_lines(r) for r in opts.refs]
    for path, r in zip(opts.refs, refs):
        check_lines(path, r, len(src), opts.src)
    baseline = read_compare_file(opts.compare, len(src), opts.src) if opts.compare else None
    src, refs, baseline = head(src, opts.limit), [head(r, opts.limit) for r in refs], head(baseline, opts.limit)
    if not src:
        raise UserError(f"{opts.src} has no lines to translate")
    described = [("source", opts.src)] + [(f"reference {i + 1}" if len(refs) > 1 else "reference", r)
                                          for i, r in enumerate(opts.refs)]
    return TestSet("translate", src, [list(x) for x in zip(*refs)], refs, described,
                   [len(s.split()) for s in src], "source length (words)", baseline)


def read_captioning(opts: ReportOptions) -> TestSet:
    paths, caps = caption_inputs(opts)
    baseline = read_compare_file(opts.compare, len(paths), "the image list") if opts.compare else None
    paths, caps, baseline = head(paths, opts.limit), head(caps, opts.limit), head(baseline, opts.limit)
    if not paths:
        raise UserError("no images to caption")
    n_refs = max(len(c) for c in caps)
    streams = [[c[k] if k < len(c) else c[0] for c in caps] for k in range(n_refs)]  # as the trainer pads
    described = ([("dataset", f"{opts.dataset} ({opts.dataset_split})")] if opts.dataset else
                 [("captions", opts.captions)] + ([("images", opts.images)] if opts.images else []))
    return TestSet("caption", [str(p) for p in paths], caps, streams, described,
                   [round(sum(len(c.split()) for c in cs) / len(cs)) for cs in caps],
                   "mean reference length (words)", baseline)


def head(items: list | None, n: int) -> list | None:
    """The first n items (n = 0: all; None stays None)."""
    return items[:n] if n and items is not None else items


def check_lines(path: str, lines: list[str], n: int, what: str) -> None:
    if len(lines) != n:
        raise UserError(f"{path} has {len(lines)} lines but {what} has {n}")


def read_image_list(path: str) -> list[str]:
    lines = [ln.strip() for ln in read_lines(path) if ln.strip()]
    if not lines:
        raise UserError(f"{path} lists no images")
    return lines


def caption_inputs(opts: ReportOptions) -> tuple[list[Path], list[list[str]]]:
    """Image paths and their reference captions: a TSV (optionally restricted to an image list) or Flickr8k."""
    if opts.dataset:
        return flickr8k(opts.dataset_split, opts.root)
    paths, caps = caption_table(opts.captions, opts.images_dir)
    if opts.images is None:
        return paths, caps
    return select_images(opts.images, opts.captions, paths, caps)


def select_images(listing: str, table: str, paths: list[Path], caps: list[list[str]]):
    """The listed images' paths and captions, in the listing's order: a listed path is matched as given,
    relative to the listing's folder, or by its file name when that is unique in the table."""
    by_path = {p.resolve(): c for p, c in zip(paths, caps)}
    by_name: dict[str, list] = {}
    for p, c in zip(paths, caps):
        by_name.setdefault(p.name, []).append((p, c))
    list_dir = Path(listing).parent
    out_p, out_c = [], []
    for line in read_image_list(listing):
        p = Path(line)
        found = next(((c, by_path[c.resolve()]) for c in (p, list_dir / p) if c.resolve() in by_path), None)
        if found is None and len(by_name.get(p.name, [])) == 1:
            found = by_name[p.name][0]
        if found is None:
            raise UserError(f"{table} has no captions for {line} (listed in {listing})")
        out_p.append(found[0])
        out_c.append(found[1])
    return out_p, out_c


def read_compare_file(spec: str, n: int, what: str) -> list[str] | None:
    """--compare: a hypothesis file is read now (and checked); a model is decoded later (None here)."""
    p = Path(spec)
    if p.is_file():
        lines = read_lines(p)
        check_lines(spec, lines, n, what)
        return lines
    if p.is_dir() or spec in shipped():
        return None
    raise UserError(f"--compare {spec}: no such hypothesis file, model directory or shipped model")


def system_name(path: str | Path) -> str:
    """A short name for a model folder or hypothesis file; generic folder names keep their parent."""
    path = Path(path)
    if path.name in ("model", "models", "checkpoint", "out", "") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or str(path)
