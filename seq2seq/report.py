"""Evaluation reports: `seq2seq report` writes one self-contained HTML file (inline CSS, every figure a base64
PNG drawn with matplotlib's Agg renderer, no scripts, nothing fetched) and a Markdown twin with the same numbers.

Sections: scores with sacreBLEU signatures and bootstrap confidence intervals, paired significance against
another system (`--compare`), length analysis, training curves from `log.jsonl`, best and worst examples by
sentence chrF, attention heatmaps, and a model card. Translation and captioning share all of it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seq2seq import UserError, __version__

N_BOOTSTRAP = 1000
SEED = 12345  # sacreBLEU's default bootstrap seed, used for our confidence intervals as well


# -- the document: parallel HTML and Markdown ------------------------------------------------------------------
class Raw(str):
    """HTML that is already safe (our own markup); every other cell text is escaped."""


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid #e3e6ea}
h3{font-size:16px;margin:20px 0 8px}
.meta{color:#5b6570;font-size:13px;margin:0}
nav{margin:14px 0 4px;font-size:14px}nav a{margin-right:14px;color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px}
th,td{border:1px solid #dde1e6;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.examples td{max-width:330px;overflow-wrap:anywhere}
table.examples td.text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px;
overflow-wrap:anywhere}
pre{background:#f6f8fa;border:1px solid #e3e6ea;padding:10px;overflow-x:auto;white-space:pre-wrap;font-size:13px}
figure{margin:10px 0 18px}figure img{max-width:100%;height:auto;border:1px solid #eceef1}
.figrow{display:flex;flex-wrap:wrap;gap:0 22px;align-items:flex-start}
figcaption{color:#5b6570;font-size:13px;margin-top:3px}
.note{background:#fff8e5;border-left:4px solid #f0b400;padding:7px 11px;margin:8px 0;font-size:14px}
.sig{color:#0a7a2f;font-weight:600}.nsig{color:#8a5a00}
td.key{color:#5b6570;font-size:13px}
img.thumb{max-width:140px;max-height:140px;border:1px solid #ddd}
footer{margin-top:40px;color:#7a838c;font-size:12px}
"""


def _md_escape(text: str) -> str:
    """Text for a Markdown table cell or paragraph: no raw HTML, no table breaks, no accidental emphasis."""
    text = str(text).replace("\\", "\\\\").replace("\r", " ").replace("\n", " ")
    for ch in "|*_`[]#":
        text = text.replace(ch, "\\" + ch)
    text = re.sub(r"&(?=#?\w+;)", "&amp;", text)  # an entity would render as its character
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)  # a tag would render as HTML


def _md_code(text: str) -> str:
    """An inline code span for a Markdown table cell ('|' must stay escaped even inside code)."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|") + "`"


def _esc(text) -> str:
    return text if isinstance(text, Raw) else html.escape(str(text), quote=True)


@dataclass
class Cell:
    """One table cell: HTML (escaped unless Raw), its Markdown text, and an optional class."""

    html: str
    md: str
    cls: str = ""


def cell(value, md: str | None = None, cls: str = "") -> Cell:
    if isinstance(value, Cell):
        return value
    if isinstance(value, float):
        return Cell(f"{value:.2f}", f"{value:.2f}", cls or "num")
    return Cell(_esc(value), _md_escape(value) if md is None else md, cls)


@dataclass
class Doc:
    """A report under construction: sections of parallel HTML and Markdown."""

    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def section(self, sid: str, title: str) -> None:
        if self.sections:
            self.html.append("</section>")
        self.sections.append((sid, title))
        self.html.append(f'<section id="{sid}">\n<h2>{_esc(title)}</h2>')
        self.md.append(f"\n## {title}\n")

    def h3(self, title: str) -> None:
        self.html.append(f"<h3>{_esc(title)}</h3>")
        self.md.append(f"\n### {_md_escape(title)}\n")

    def p(self, text: str, cls: str = "") -> None:
        attr = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{attr}>{_esc(text)}</p>")
        self.md.append(("> **Note:** " if cls == "note" else "") + _md_escape(text) + "\n")

    def note(self, text: str) -> None:
        self.p(text, "note")

    def pre(self, text: str) -> None:
        self.html.append(f"<pre>{html.escape(text)}</pre>")
        fence = "````" if "```" in text else "```"
        self.md.append(f"{fence}text\n{text.rstrip()}\n{fence}\n")

    def table(self, headers: list[str], rows: list[list], cls: str = "", row_ids: list[str] | None = None) -> None:
        rows = [[cell(v) for v in r] for r in rows]
        attr = f' class="{cls}"' if cls else ""
        out = [f"<table{attr}><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in headers) + "</tr></thead><tbody>"]
        for i, r in enumerate(rows):
            rid = f' data-row="{_esc(row_ids[i])}"' if row_ids else ""
            out.append(f"<tr{rid}>" + "".join(f'<td{f" class={chr(34)}{c.cls}{chr(34)}" if c.cls else ""}>{c.html}</td>'
                                              for c in r) + "</tr>")
        out.append("</tbody></table>")
        self.html.append("\n".join(out))
        md = ["| " + " | ".join(_md_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
        md += ["| " + " | ".join(c.md for c in r) + " |" for r in rows]
        self.md.append("\n".join(md) + "\n")

    def figure(self, fig, caption: str, cls: str = "", attrs: dict | None = None) -> None:
        """A matplotlib Figure, embedded as a base64 PNG (the Markdown twin names it and points to the HTML)."""
        data = png_base64(fig)
        extra = "".join(f' data-{k}="{_esc(v)}"' for k, v in (attrs or {}).items())
        c = f' class="{cls}"' if cls else ""
        self.html.append(f'<figure{c}{extra}><img alt="{_esc(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{_esc(caption)}</figcaption></figure>")
        self.md.append(f"*Figure: {_md_escape(caption)} (embedded in the HTML report).*\n")

    def render_html(self, meta: list[str]) -> str:
        nav = " ".join(f'<a href="#{sid}">{_esc(t)}</a>' for sid, t in self.sections)
        body = "\n".join(self.html) + ("\n</section>" if self.sections else "")
        metas = "".join(f'<p class="meta">{_esc(m)}</p>' for m in meta)
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"<title>{_esc(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
                f"<header><h1>{_esc(self.title)}</h1>{metas}<nav>{nav}</nav></header>\n{body}\n"
                f"<footer>seq2seq {__version__} · self-contained report: figures are inline PNG, no scripts, "
                f"no network.</footer>\n</main>\n</body>\n</html>\n")

    def render_md(self, meta: list[str]) -> str:
        head = [f"# {self.title}", ""] + [_md_escape(m) + "  " for m in meta]
        return "\n".join(head) + "\n" + "\n".join(self.md)

    def write(self, out: str | Path, meta: list[str]) -> tuple[Path, Path]:
        out = check_out(out)
        md_path = out.with_suffix(".md")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(self.render_html(meta), encoding="utf-8")
            md_path.write_text(self.render_md(meta), encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot write {out}: {e.strerror}") from None
        return out, md_path


def check_out(out: str | Path) -> Path:
    """The HTML path to write; its Markdown twin takes the same name with .md."""
    out = Path(out)
    if out.suffix.lower() == ".md":
        raise UserError(f"--out {out}: give the HTML file's name; the Markdown twin is written beside it")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
    return out


# -- figures ------------------------------------------------------------------------------------------------
def new_figure(w: float, h: float):
    """A matplotlib Figure not tied to pyplot (no global state; PNGs render with Agg)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def png_base64(fig) -> str:
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():  # glyphs missing from the default font (e.g. CJK) print a warning each
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def pil_base64(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _piece(p: str) -> str:
    """A sentencepiece as a plot label: the word-start mark as '_', and '$' not read as TeX math."""
    return p.replace("\u2581", "_").replace("$", r"\$")


# -- statistics ---------------------------------------------------------------------------------------------
def bootstrap_indices_counts(n: int, n_boot: int, seed: int):
    """Yield (chunk of resamples, n) count matrices: counts[b, i] = how often sentence i is in resample b."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(k, n))  # (k, n) sentence indices
        yield np.bincount((idx + np.arange(k)[:, None] * n).ravel(), minlength=k * n).reshape(k, n)
        done += k


def bootstrap_metric(metric, stats: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    """Corpus scores of `n_boot` resamples of the sentences, recomputed from per-sentence sufficient statistics
    (stats (n, d)) as sacreBLEU does; summing through a count matrix avoids building (n_boot, n, d)."""
    out = []
    for counts in bootstrap_indices_counts(len(stats), n_boot, seed):
        sums = counts @ stats  # (k, d)
        out += [metric._compute_score_from_stats(s).score for s in sums]
    return np.array(out)


def bootstrap_mean(values: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    out = []
    for counts in bootstrap_indices_counts(len(values), n_boot, seed):
        out.append(counts @ values / len(values))
    return np.concatenate(out)


def ci95(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def sentence_stats(metric, hyps: list[str], streams: list[list[str]]) -> np.ndarray:
    """(n, d) sacreBLEU sufficient statistics, one row per sentence."""
    return np.array(metric._extract_corpus_statistics(hyps, streams), dtype=np.float64)


def length_buckets(lengths: list[int], target: int = 6) -> list[tuple[int, int]]:
    """Contiguous [lo, hi] length ranges of a 'nice' width (1, 2, 5, 10, 20, ...) giving about `target` buckets."""
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    span = hi - lo + 1
    width = 1
    for w in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        width = w
        if span / w <= target:
            break
    start = (lo // width) * width if width > 1 else lo
    out = []
    while start <= hi:
        b = (max(start, 0), start + width - 1)
        if any(b[0] <= x <= b[1] for x in lengths):
            out.append(b)
        start += width
    return out


@dataclass
class Bucket:
    lo: int
    hi: int
    n: int
    bleu: float
    ratio: float  # hypothesis / reference length (BLEU's sys_len / ref_len)

    @property
    def label(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


def bucket_scores(metric, stats: np.ndarray, lengths: list[int]) -> list[Bucket]:
    """Corpus BLEU of each length bucket, from the sentences' BLEU statistics (stats[:, 0:2] = sys/ref length)."""
    lengths_np = np.array(lengths)
    out = []
    for lo, hi in length_buckets(lengths):
        sel = (lengths_np >= lo) & (lengths_np <= hi)
        s = stats[sel].sum(0)
        out.append(Bucket(lo, hi, int(sel.sum()), float(metric._compute_score_from_stats(s).score),
                          float(s[0] / s[1]) if s[1] else float("nan")))
    return out


# -- inputs -------------------------------------------------------------------------------------------------
@dataclass
class Eval:
    """What was decoded and how it scored, whichever the task."""

    task: str  # translate | caption
    model_dir: Path
    cfg: object
    model: object
    search: object
    device: object
    hyps: list[str]
    streams: list[list[str]]  # reference streams, each one line per item
    refs_per_item: list[list[str]]
    sources: list[str]  # source sentences, or image paths
    seconds: float  # decoding time of the main pass
    inputs_desc: list[tuple[str, str]]
    scores: list = field(default_factory=list)  # (key, Score, (lo, hi)) rows
    chrf: np.ndarray | None = None  # (n,) sentence chrF
    bleu_metric: object = None
    bleu_stats: np.ndarray | None = None
    lengths: list[int] = field(default_factory=list)
    length_name: str = ""
    translator: object = None
    captioner: object = None
    compare_hyps: list[str] | None = None  # --compare as a hypothesis file


def _check_lines(path: str, lines: list[str], n: int, what: str) -> None:
    if len(lines) != n:
        raise UserError(f"{path} has {len(lines)} lines but {what} has {n}")


def _resolve_model(name: str | None, task: str) -> Path:
    from seq2seq.hub import resolve

    return resolve(name, task=task)


def _encoder_kind(model_dir: Path) -> str:
    import yaml

    try:
        raw = yaml.safe_load((model_dir / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "text"  # load_model_dir reports the problem properly
    return (raw.get("model") or {}).get("encoder", "text")


def read_image_list(path: str) -> list[str]:
    from seq2seq.corpus import read_lines

    lines = [ln.strip() for ln in read_lines(path) if ln.strip()]
    if not lines:
        raise UserError(f"{path} lists no images")
    return lines


def caption_inputs(images: str | None, captions: str | None, images_dir: str | None, dataset: str | None,
                   split: str, root: str | None) -> tuple[list[Path], list[list[str]]]:
    """Image paths and their reference captions: a TSV (optionally restricted to an image list) or Flickr8k."""
    from seq2seq.corpus import caption_table, flickr8k

    if dataset:
        if images or captions:
            raise UserError("give --dataset, or --images/--captions, not both")
        if dataset != "flickr8k":
            raise UserError(f"unknown dataset {dataset!r}; the one known is flickr8k")
        return flickr8k(split, root)
    if not captions:
        raise UserError("a captioning report needs reference captions: --captions FILE (image<TAB>caption) "
                        "or --dataset flickr8k")
    paths, caps = caption_table(captions, images_dir)
    if images is None:
        return paths, caps
    by_path = {p.resolve(): c for p, c in zip(paths, caps)}
    by_name: dict[str, list] = {}
    for p, c in zip(paths, caps):
        by_name.setdefault(p.name, []).append((p, c))
    list_dir = Path(images).parent
    out_p, out_c = [], []
    for line in read_image_list(images):
        p = Path(line)
        found = None
        for cand in (p, list_dir / p):
            if cand.resolve() in by_path:
                found = (cand, by_path[cand.resolve()])
                break
        if found is None and len(by_name.get(p.name, [])) == 1:
            found = by_name[p.name][0]
        if found is None:
            raise UserError(f"{captions} has no captions for {line} (listed in {images})")
        out_p.append(found[0])
        out_c.append(found[1])
    return out_p, out_c


# -- scoring ------------------------------------------------------------------------------------------------
def score_translation(ev: Eval, lowercase: bool, n_boot: int) -> None:
    from sacrebleu.metrics import BLEU, CHRF, TER

    from seq2seq.metrics import corpus_scores

    scores = corpus_scores(ev.hyps, ev.streams, lowercase=lowercase)  # exactly `seq2seq evaluate`'s numbers
    metrics = {"bleu": BLEU(lowercase=lowercase), "chrf": CHRF(lowercase=lowercase),
               "ter": TER(case_sensitive=not lowercase)}
    for key, metric in metrics.items():
        stats = sentence_stats(metric, ev.hyps, ev.streams)
        ev.scores.append((key, scores[key], ci95(bootstrap_metric(metric, stats, n_boot))))
        if key == "bleu":
            ev.bleu_metric, ev.bleu_stats = metric, stats
        if key == "chrf":
            ev.chrf = np.array([metric._compute_score_from_stats(s).score for s in stats])


def score_captions(ev: Eval, n_boot: int) -> None:
    from sacrebleu.metrics import BLEU, CHRF

    from seq2seq.metrics import Score, caption_bleu, cider_d, cider_d_items

    bleus = caption_bleu(ev.hyps, ev.streams)
    for n in range(1, 5):
        metric = BLEU(max_ngram_order=n, lowercase=True)
        stats = sentence_stats(metric, ev.hyps, ev.streams)
        ev.scores.append((f"bleu{n}", bleus[f"bleu{n}"], ci95(bootstrap_metric(metric, stats, n_boot))))
        if n == 4:
            ev.bleu_metric, ev.bleu_stats = metric, stats
    items = np.array(cider_d_items(ev.hyps, ev.refs_per_item))
    total = cider_d(ev.hyps, ev.refs_per_item)
    sig = f"CIDEr-D|n:4|sigma:6|nrefs:{max(len(r) for r in ev.refs_per_item)}|tok:whitespace|case:lc|df:refs"
    ev.scores.append(("cider", Score("CIDEr-D", round(total, 3), sig, f"CIDEr-D = {total:.3f}"),
                      ci95(bootstrap_mean(items, n_boot))))
    chrf = CHRF(lowercase=True)
    ev.chrf = np.array([chrf._compute_score_from_stats(s).score for s in sentence_stats(chrf, ev.hyps, ev.streams)])


def paired_test(ev: Eval, name: str, other: list[str], other_name: str, lowercase: bool, n_boot: int):
    """sacreBLEU's paired bootstrap resampling (PairedTest, test_type='bs'): the compared system is the baseline."""
    import logging

    from sacrebleu.metrics import BLEU, CHRF, TER
    from sacrebleu.significance import PairedTest

    logging.getLogger("sacrebleu").setLevel(logging.WARNING)
    if ev.task == "caption":
        metrics = {"BLEU": BLEU(max_ngram_order=4, lowercase=True)}
    else:
        metrics = {"BLEU": BLEU(lowercase=lowercase), "chrF": CHRF(lowercase=lowercase),
                   "TER": TER(case_sensitive=not lowercase)}
    test = PairedTest([(other_name, other), (name, ev.hyps)], metrics, ev.streams, test_type="bs",
                      n_samples=n_boot)
    sigs, res = test()
    same = list(other) == list(ev.hyps)
    rows = []
    for metric in res:
        if metric == "System":
            continue
        base, sys_ = res[metric]
        rows.append({"metric": metric, "baseline": float(base.score), "system": float(sys_.score),
                     "delta": float(sys_.score - base.score), "p": 1.0 if same else float(sys_.p_value),
                     "signature": str(sigs[metric])})
    return rows


# -- decoding -----------------------------------------------------------------------------------------------
def _overrides(args) -> dict:
    return {"beam": args.beam, "alpha": args.alpha, "batch_size": args.batch_size,
            "shortlist": getattr(args, "shortlist", None)}


def decode_translation(args) -> Eval:
    from seq2seq.corpus import read_lines
    from seq2seq.translate import Translator

    if not args.ref:
        raise UserError("a translation report needs --ref FILE (repeat it for several references)")
    src = read_lines(args.src)
    refs = [read_lines(r) for r in args.ref]
    for path, r in zip(args.ref, refs):
        _check_lines(path, r, len(src), args.src)
    compare_hyps = _read_compare_file(args.compare, len(src), args.src) if args.compare else None
    if args.limit:
        src, refs = src[: args.limit], [r[: args.limit] for r in refs]
        compare_hyps = compare_hyps[: args.limit] if compare_hyps is not None else None
    if not src:
        raise UserError(f"{args.src} has no lines to translate")
    model_dir = _resolve_model(args.model, "translate")
    if _encoder_kind(model_dir) == "image":
        raise UserError(f"{model_dir} is a captioning model; give --images/--captions or --dataset instead of --src")
    tr = Translator.load(model_dir, args.device, **_overrides(args))
    t0 = time.perf_counter()
    hyps = tr.translate(src)
    seconds = time.perf_counter() - t0
    inputs = [("source", args.src)] + [(f"reference {i + 1}" if len(refs) > 1 else "reference", r)
                                       for i, r in enumerate(args.ref)]
    ev = Eval("translate", model_dir, tr.config, tr.model, tr.search, tr.device, hyps, refs,
              [list(x) for x in zip(*refs)], src, seconds, inputs, translator=tr)
    ev.lengths, ev.length_name = [len(s.split()) for s in src], "source length (words)"
    ev.compare_hyps = compare_hyps
    return ev


def decode_captions(args) -> Eval:
    from seq2seq.caption import Captioner

    paths, caps = caption_inputs(args.images, args.captions, args.images_dir, args.dataset, args.split, args.root)
    compare_hyps = _read_compare_file(args.compare, len(paths), "the image list") if args.compare else None
    if args.limit:
        paths, caps = paths[: args.limit], caps[: args.limit]
        compare_hyps = compare_hyps[: args.limit] if compare_hyps is not None else None
    if not paths:
        raise UserError("no images to caption")
    model_dir = _resolve_model(args.model, "caption")
    cap = Captioner.load(model_dir, args.device, **_overrides(args))
    hyps, seconds = caption_paths(cap, paths)
    n_refs = max(len(c) for c in caps)
    streams = [[c[k] if k < len(c) else c[0] for c in caps] for k in range(n_refs)]  # as the trainer pads
    desc = ([("dataset", f"{args.dataset} ({args.split})")] if args.dataset else
            [("captions", args.captions)] + ([("images", args.images)] if args.images else []))
    ev = Eval("caption", model_dir, cap.config, cap.model, cap.search, cap.device, hyps, streams, caps,
              [str(p) for p in paths], seconds, desc, captioner=cap)
    ev.lengths = [round(sum(len(c.split()) for c in cs) / len(cs)) for cs in caps]
    ev.length_name = "mean reference length (words)"
    ev.compare_hyps = compare_hyps
    return ev


def caption_paths(cap, paths: list[Path]) -> tuple[list[str], float]:
    """Normalised captions of image files, and the seconds spent captioning (image loading excluded). Images
    are loaded a batch at a time: a test set of photos need not fit in memory."""
    from seq2seq.corpus import normalize_caption
    from seq2seq.images import load_image

    hyps, seconds = [], 0.0
    step = cap.search.batch_size
    for s in range(0, len(paths), step):
        images = [load_image(p) for p in paths[s : s + step]]
        t0 = time.perf_counter()
        hyps += [normalize_caption(c.text) for c in cap.generate(images)]
        seconds += time.perf_counter() - t0
    return hyps, seconds


def _read_compare_file(spec: str, n: int, what: str) -> list[str] | None:
    """--compare: a hypothesis file is read now (and checked); a model is decoded later (None here)."""
    from seq2seq.corpus import read_lines
    from seq2seq.hub import shipped

    p = Path(spec)
    if p.is_file():
        lines = read_lines(p)
        _check_lines(spec, lines, n, what)
        return lines
    if p.is_dir() or spec in shipped():
        return None
    raise UserError(f"--compare {spec}: no such hypothesis file, model directory or shipped model")


def system_name(path: Path) -> str:
    """A short name for a model folder or hypothesis file; generic folder names keep their parent."""
    path = Path(path)
    if path.name in ("model", "models", "checkpoint", "out", "") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or str(path)


def decode_compare(ev: Eval, args) -> tuple[list[str], str]:
    if ev.compare_hyps is not None:
        return ev.compare_hyps, system_name(Path(args.compare))
    model_dir = _resolve_model(args.compare, ev.task)
    if ev.task == "translate":
        from seq2seq.translate import Translator

        if _encoder_kind(model_dir) == "image":
            raise UserError(f"--compare {args.compare} is a captioning model; compare translation models")
        tr = Translator.load(model_dir, args.device, **_overrides(args))
        return tr.translate(ev.sources), system_name(model_dir)
    from seq2seq.caption import Captioner

    cap = Captioner.load(model_dir, args.device, **_overrides(args))
    return caption_paths(cap, [Path(p) for p in ev.sources])[0], system_name(model_dir)


# -- sections -----------------------------------------------------------------------------------------------
def section_scores(doc: Doc, ev: Eval, n_boot: int) -> None:
    doc.section("scores", "Scores")
    n = len(ev.hyps)
    what = "sentences" if ev.task == "translate" else "images"
    doc.p(f"{n} {what}; decoded with beam {ev.search.beam}, alpha {ev.search.alpha}. 95% confidence intervals: "
          f"2.5th-97.5th percentiles of {n_boot} bootstrap resamples of the {what} (seed {SEED}), each rescored "
          f"from per-{what[:-1]} sufficient statistics.")
    rows, ids = [], []
    for key, s, (lo, hi) in ev.scores:
        digits = 3 if key == "cider" else 2
        rows.append([s.name, Cell(f"{s.score:.{digits}f}", f"{s.score:.{digits}f}", "num score"),
                     Cell(f"[{lo:.{digits}f}, {hi:.{digits}f}]", f"[{lo:.{digits}f}, {hi:.{digits}f}]", "num"),
                     Cell(f"<code>{_esc(s.signature)}</code>", _md_code(s.signature))])
        ids.append(key)
    doc.table(["metric", "score", "95% CI", "signature"], rows, "scores", ids)
    if ev.task == "caption":
        doc.p("Captions are normalised (lowercase, punctuation-only tokens dropped) before scoring; CIDEr-D is "
              "computed by this package (document frequencies from these references), not by sacreBLEU.")


def section_significance(doc: Doc, rows: list[dict], name: str, other: str) -> None:
    doc.section("significance", "Paired significance")
    doc.p(f"Paired bootstrap resampling as sacreBLEU does it (PairedTest, test_type bs): {name} against the "
          f"baseline {other}. p is the probability of a difference at least this large arising by chance; "
          f"p < 0.05 is marked significant.")
    out = []
    for r in rows:
        sig = r["p"] < 0.05
        mark = "significant" if sig else "not significant"
        out.append([r["metric"], r["baseline"], r["system"], Cell(f"{r['delta']:+.2f}", f"{r['delta']:+.2f}", "num"),
                    Cell(f"{r['p']:.4f}", f"{r['p']:.4f}", "num pvalue"),
                    Cell(f'<span class="{"sig" if sig else "nsig"}">{mark}</span>', mark),
                    Cell(f"<code>{_esc(r['signature'])}</code>", _md_code(r["signature"]))])
    doc.table(["metric", f"baseline: {other}", f"system: {name}", "difference", "p-value", "", "signature"], out,
              "significance", [r["metric"] for r in rows])
    if all(r["delta"] == 0 for r in rows) and all(r["p"] == 1.0 for r in rows):
        doc.note("The two systems' outputs are identical: p = 1 (sacreBLEU's formula would give 1/(resamples + 1) "
                 "when no resample differs).")


def section_length(doc: Doc, ev: Eval, compare: tuple[list[str], str] | None) -> None:
    doc.section("length", "Length analysis")
    buckets = bucket_scores(ev.bleu_metric, ev.bleu_stats, ev.lengths)
    name = "BLEU" if ev.task == "translate" else "BLEU-4"
    total = ev.bleu_stats.sum(0)
    ratio = total[0] / total[1] if total[1] else float("nan")
    doc.p(f"Hypothesis/reference length ratio over the whole set: {ratio:.3f} (BLEU's sys_len/ref_len, "
          f"{int(total[0])}/{int(total[1])} tokens; below 1 means a brevity penalty).")
    cmp_buckets = None
    if compare is not None:
        cstats = sentence_stats(ev.bleu_metric, compare[0], ev.streams)
        cmp_buckets = bucket_scores(ev.bleu_metric, cstats, ev.lengths)
    headers = [ev.length_name, "n", name, "hyp/ref length"] + ([f"{name} ({compare[1]})"] if compare else [])
    rows = [[b.label, Cell(str(b.n), str(b.n), "num"), b.bleu, Cell(f"{b.ratio:.3f}", f"{b.ratio:.3f}", "num")]
            + ([cb.bleu] if cmp_buckets else []) for b, cb in zip(buckets, cmp_buckets or buckets)]
    doc.table(headers, rows, "buckets")
    x = np.arange(len(buckets))
    labels = [f"{b.label}\n(n={b.n})" for b in buckets]
    doc.html.append('<div class="figrow">')
    fig = new_figure(max(5.0, 0.9 * len(buckets) + 2), 3.2)
    ax = fig.subplots()
    w = 0.38 if cmp_buckets else 0.6
    ax.bar(x - (w / 2 if cmp_buckets else 0), [b.bleu for b in buckets], w, color="#3b76c4",
           label=system_name(ev.model_dir))
    if cmp_buckets:
        ax.bar(x + w / 2, [b.bleu for b in cmp_buckets], w, color="#e39b2d", label=compare[1])
        ax.legend(fontsize=8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel(ev.length_name)
    ax.set_ylabel(name)
    ax.set_title(f"{name} by {ev.length_name.split(' (')[0]}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    doc.figure(fig, f"Corpus {name} of each length bucket", "plot", {"plot": "bleu-by-length"})
    fig = new_figure(max(5.0, 0.9 * len(buckets) + 2), 3.0)
    ax = fig.subplots()
    ax.plot(x, [b.ratio for b in buckets], "o-", color="#3b76c4")
    ax.axhline(1.0, color="#888", lw=1, ls="--")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel(ev.length_name)
    ax.set_ylabel("hypothesis / reference length")
    ax.set_title("Length ratio by bucket (1 = as long as the reference)", fontsize=10)
    ax.grid(alpha=0.3)
    doc.figure(fig, "Hypothesis/reference length ratio of each length bucket", "plot", {"plot": "length-ratio"})
    doc.html.append("</div>")


def read_log(model_dir: Path) -> tuple[list[dict], int]:
    """log.jsonl records, and how many lines could not be read (a run killed mid-write leaves half a line)."""
    records, bad = [], 0
    with open(model_dir / "log.jsonl", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(r, dict) and "step" in r:
                records.append(r)
            else:
                bad += 1
    return records, bad


def section_training(doc: Doc, model_dir: Path) -> dict:
    doc.section("training", "Training curves")
    if not (model_dir / "log.jsonl").is_file():
        doc.note(f"No training log: {model_dir} has no log.jsonl (shipped models carry only their weights, "
                 f"config and card.md), so there are no training curves to show.")
        return {}
    records, bad = read_log(model_dir)
    train = [r for r in records if r.get("type") == "train"]
    valid = [r for r in records if r.get("type") == "valid"]
    if bad:
        doc.note(f"{bad} line(s) of log.jsonl could not be read and were skipped.")
    if not train and not valid:
        doc.note("log.jsonl holds no training or validation records yet.")
        return {}

    def series(rs, key):
        pts = [(r["step"], r[key]) for r in rs if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig = new_figure(11, 3.2)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for rs, key, label, style in ((train, "loss", "train loss", "-"), (valid, "loss", "valid loss", "o-")):
        xs, ys = series(rs, key)
        if xs:
            ax1.plot(xs, ys, style, ms=3, label=label)
    ax1.set_title("loss", fontsize=10)
    ax1.legend(fontsize=8)
    xs, ys = series(valid, "bleu")
    if xs:
        ax2.plot(xs, ys, "o-", ms=3, color="#2a9d55")
        best = max(range(len(ys)), key=lambda i: ys[i])
        ax2.plot([xs[best]], [ys[best]], "*", ms=12, color="#d4a106", label=f"best {ys[best]:.2f} @ {xs[best]}")
        ax2.legend(fontsize=8)
    ax2.set_title("validation BLEU", fontsize=10)
    xs, ys = series(train or valid, "lr")
    if xs:
        ax3.plot(xs, ys, "-", color="#8c4fc2")
        if min(ys) > 0 and max(ys) / min(ys) > 20:
            ax3.set_yscale("log")
        elif max(ys) == min(ys):  # constant schedule: show it against zero, not a magnified flat line
            ax3.set_ylim(0, 1.25 * max(ys) if max(ys) > 0 else 1)
    ax3.set_title("learning rate", fontsize=10)
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    doc.figure(fig, "Training and validation loss, validation BLEU, and learning rate against the step",
               "plot", {"plot": "training"})
    summary = {"steps": max(r["step"] for r in records)}
    rows = [["steps logged", Cell(str(summary["steps"]), str(summary["steps"]), "num")]]
    if valid and series(valid, "bleu")[0]:
        xs, ys = series(valid, "bleu")
        best = max(range(len(ys)), key=lambda i: ys[i])
        summary["best_bleu"], summary["best_step"] = ys[best], xs[best]
        best_text = f"{ys[best]:.2f} (step {xs[best]})"
        rows.append(["best validation BLEU", Cell(best_text, best_text, "num")])
    if train:
        rows.append(["last train loss", float(train[-1]["loss"])])
        toks = [r["tok_s"] for r in train if isinstance(r.get("tok_s"), (int, float))]
        if toks:
            rows.append(["mean training speed (target tokens/s)", Cell(f"{sum(toks) / len(toks):,.0f}",
                                                                       f"{sum(toks) / len(toks):,.0f}", "num")])
    doc.table(["", "value"], rows)
    return summary


def _refs_cell(refs: list[str]) -> Cell:
    if len(refs) == 1:
        return cell(refs[0], cls="text")
    return Cell("<br>".join(f"{i + 1}. {_esc(r)}" for i, r in enumerate(refs)),
                " / ".join(f"{i + 1}. {_md_escape(r)}" for i, r in enumerate(refs)), "text")


def _thumb(path: str, size: int = 140) -> Cell:
    from seq2seq.images import load_image

    try:
        img = load_image(path)
    except UserError:
        return Cell("(image unreadable)", "(image unreadable)")
    img.thumbnail((size, size))
    name = Path(path).name
    return Cell(f'<img class="thumb" alt="{_esc(name)}" src="data:image/png;base64,{pil_base64(img)}">'
                f'<br><small>{_esc(name)}</small>', _md_code(name))


def pick_examples(chrf: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """The k best and k worst items by sentence chrF (ties broken by position, so the choice is stable)."""
    order = sorted(range(len(chrf)), key=lambda i: (-chrf[i], i))
    k = min(k, max(1, len(order) // 2)) if len(order) > 1 else len(order)
    worst = sorted(range(len(chrf)), key=lambda i: (chrf[i], i))[:k]
    return order[:k], worst


def section_examples(doc: Doc, ev: Eval, k: int) -> None:
    doc.section("examples", "Best and worst examples")
    best, worst = pick_examples(ev.chrf, k)
    doc.p("Ranked by sentence-level chrF against all references. Text is shown exactly as read and produced.")
    for title, idx, sid in (("Best", best, "best"), ("Worst", worst, "worst")):
        doc.h3(f"{title} {len(idx)} by sentence chrF")
        rows = []
        for i in idx:
            src = cell(ev.sources[i], cls="text") if ev.task == "translate" else _thumb(ev.sources[i])
            rows.append([Cell(str(i + 1), str(i + 1), "num"), float(ev.chrf[i]), src, _refs_cell(ev.refs_per_item[i]),
                         cell(ev.hyps[i], cls="text")])
        doc.table(["line" if ev.task == "translate" else "#", "chrF", "source" if ev.task == "translate" else "image",
                   "reference" + ("s" if len(ev.streams) > 1 else ""), "hypothesis"], rows, f"examples {sid}")


def _attention_picks(ev: Eval, k: int, max_len: int = 30) -> list[int]:
    """Up to k items spread over the chrF range (best, middle, worst), preferring short ones for legibility."""
    cand = [i for i in range(len(ev.hyps)) if ev.sources[i].strip()]
    short = [i for i in cand if ev.task != "translate" or len(ev.sources[i].split()) <= max_len] or cand
    if not short or k <= 0:
        return []
    order = sorted(short, key=lambda i: (-ev.chrf[i], i))
    if len(order) <= k:
        return order
    return [order[round(j * (len(order) - 1) / max(k - 1, 1))] for j in range(k)]


def translation_attention_figure(src_pieces: list[str], tgt_pieces: list[str], attn: np.ndarray):
    """attn (T, S): one row per target piece (EOS step included), one column per source piece."""
    T, S = attn.shape
    fig = new_figure(min(14.0, 1.6 + 0.32 * S), min(12.0, 1.2 + 0.3 * T))
    ax = fig.subplots()
    im = ax.imshow(attn, cmap="viridis", vmin=0.0, vmax=max(float(attn.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(S), [_piece(p) for p in src_pieces[:S]], rotation=90, fontsize=8)
    ax.set_yticks(range(T), [_piece(p) for p in tgt_pieces[:T]], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("hypothesis")
    fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
    return fig


def grid_shape(n: int) -> tuple[int, int]:
    """(h, w) of an attention grid of n cells: square when n is, else the most square factorisation."""
    r = int(round(math.sqrt(n)))
    if r * r == n:
        return r, r
    h = max(d for d in range(1, r + 1) if n % d == 0)
    return h, n // h


def caption_attention_figure(img, words: list[str], attn: np.ndarray, ncols: int = 7):
    """Show-Attend-and-Tell panels: the image, then one panel per word with its attention (T, N) reshaped to
    the feature grid and upsampled bilinearly over the (centre-cropped) image the model saw."""
    import torch
    import torch.nn.functional as F
    from PIL import ImageOps

    size = 224
    crop = ImageOps.fit(img, (size, size), centering=(0.5, 0.5))  # the eval transform's resize + centre crop
    T, N = attn.shape
    h, w = grid_shape(N)
    maps = torch.from_numpy(attn).float().view(T, 1, h, w)  # (T, 1, h, w)
    up = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()  # (T, S, S)
    panels = T + 1
    cols = min(ncols, panels)
    rows = math.ceil(panels / cols)
    fig = new_figure(1.9 * cols, 2.05 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    axes[0].imshow(crop)
    axes[0].set_title("image", fontsize=9)
    for t in range(T):
        ax = axes[t + 1]
        ax.imshow(crop)
        m = up[t] / max(float(up[t].max()), 1e-9)  # (S, S) in [0, 1]
        shade = np.zeros((size, size, 4))
        shade[..., 3] = 0.8 * (1.0 - m)  # darken what is not attended; attended regions stay as they are
        ax.imshow(shade)
        ax.set_title(_piece(words[t]).lstrip("_") or "_", fontsize=9)
    return fig


def section_attention(doc: Doc, ev: Eval, k: int) -> None:
    doc.section("attention", "Attention")
    if ev.cfg.model.attention == "none":
        doc.note("This model has no attention (model.attention = none): nothing to show.")
        return
    picks = _attention_picks(ev, k)
    if not picks:
        doc.note("No non-empty inputs to show attention for.")
        return
    if ev.task == "translate":
        doc.p("Attention weights of the best hypothesis, decoded again for these sentences with the same search: "
              "rows are hypothesis pieces (the last is end-of-sentence), columns source pieces; each row sums to 1.")
        res = ev.translator.generate([ev.sources[i] for i in picks], return_attention=True, warn=lambda m: None)
        for i, r in zip(picks, res):
            doc.h3(f"line {i + 1} (chrF {ev.chrf[i]:.1f})")
            if r.attention is None:
                doc.note("no attention returned for this sentence")
                continue
            a = r.attention.float().numpy()[:, : len(r.src_pieces)]  # (T, S): batch padding columns (weight 0) off
            fig = translation_attention_figure(r.src_pieces, r.tgt_pieces, a)
            doc.figure(fig, f"line {i + 1}: {r.text}", "attn-heatmap",
                       {"rows": a.shape[0], "cols": a.shape[1]})
        return
    from seq2seq.images import load_image

    doc.p("Show-Attend-and-Tell view: for each generated word, its attention over the image's feature grid "
          "(reshaped to the grid, upsampled bilinearly, each panel scaled to its own maximum; bright = attended).")
    images = [load_image(ev.sources[i]) for i in picks]
    caps = ev.captioner.generate(images, return_attention=True)
    for i, img, c in zip(picks, images, caps):
        doc.h3(f"{Path(ev.sources[i]).name} (chrF {ev.chrf[i]:.1f})")
        if c.attention is None:
            doc.note("no attention returned for this image")
            continue
        a = c.attention.float().numpy()  # (T, N)
        gh, gw = grid_shape(a.shape[1])
        fig = caption_attention_figure(img, c.tokens, a)
        doc.figure(fig, f"{Path(ev.sources[i]).name}: {c.text}", "attn-grid",
                   {"panels": a.shape[0], "grid": f"{gh}x{gw}"})


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def section_card(doc: Doc, ev: Eval, train_summary: dict) -> None:
    import dataclasses

    import torch

    from seq2seq.checkpoint import weights_file
    from seq2seq.model.seq2seq import count_parameters

    doc.section("model-card", "Model card")
    cfg = ev.cfg
    m = dataclasses.asdict(cfg.model)
    image_only = {"backbone", "backbone_weights", "pretrained", "finetune_blocks"}
    text_only = {"bidirectional", "enc_layers", "deep_input", "share_embeddings"}
    skip = text_only if m["encoder"] == "image" else image_only
    doc.h3("Architecture (config.yaml)")
    pairs = [(f"model.{k}", str(v)) for k, v in m.items() if k not in skip]
    per_row = 3  # key/value pairs side by side: a short table instead of a long one
    rows = [sum(([Cell(_esc(k), _md_escape(k), "key"), v] for k, v in pairs[i : i + per_row]), [])
            for i in range(0, len(pairs), per_row)]
    for r in rows:
        r += ["", ""] * (per_row - len(r) // 2)
    doc.table(["setting", "value"] * per_row, rows, "arch")
    n_params = count_parameters(ev.model)
    rows = [["model directory", str(ev.model_dir)], ["weights", weights_file(ev.model_dir).name],
            ["parameters", Cell(f"{n_params:,}", f"{n_params:,}", "num")]]
    if ev.translator is not None:
        tr = ev.translator
        rows.append(["vocabulary (source / target)", f"{len(tr.src_tok):,} / {len(tr.tgt_tok):,}"])
    else:
        rows.append(["vocabulary", f"{len(ev.captioner.tok):,}"])
    doc.table(["", "value"], rows)
    doc.h3("Data")
    d = dataclasses.asdict(cfg.data)
    keys = (["dataset", "root", "train", "valid", "images_dir", "image_size"] if m["encoder"] == "image" else
            ["train_src", "train_tgt", "train", "valid_src", "valid_tgt", "valid", "src_lang", "tgt_lang"])
    keys += ["spm_type", "vocab_size", "joint_vocab", "max_len"]
    rows = [[f"data.{k}", str(d[k])] for k in keys if d.get(k) is not None]
    rows += [[f"evaluated on: {k}", v] for k, v in ev.inputs_desc]
    if train_summary:
        rows.append(["training steps (log.jsonl)", str(train_summary["steps"])])
    doc.table(["", "value"], rows)
    doc.h3("Decoding and hardware")
    s = ev.search
    n = len(ev.hyps)
    speed = n / ev.seconds if ev.seconds > 0 else float("inf")
    what = "sentences" if ev.task == "translate" else "images"
    dev = str(ev.device) + (f" ({torch.cuda.get_device_name(ev.device)})" if ev.device.type == "cuda" else "")
    shortlist = ""
    if ev.task == "translate":
        used = getattr(ev.translator, "shortlist", None) is not None and s.shortlist
        shortlist = ", lexical shortlist" if used else ", whole vocabulary"
    rows = [["search", f"beam {s.beam}, alpha {s.alpha}, max length {s.max_len_ratio} x source + {s.max_len_offset}, "
                       f"batch {s.batch_size}{shortlist}"],
            ["decode speed", Cell(f"{speed:,.1f} {what}/s ({n} in {ev.seconds:.2f} s)",
                                  f"{speed:,.1f} {what}/s ({n} in {ev.seconds:.2f} s)", "num")],
            ["device", dev], ["torch", f"{torch.__version__}, CPU threads: {torch.get_num_threads()}"],
            ["CPU", f"{_cpu_name()} ({os.cpu_count()} logical cores)"],
            ["platform", f"{platform.platform()}, Python {platform.python_version()}"]]
    doc.table(["", "value"], rows, "card-runtime")
    card = ev.model_dir / "card.md"
    doc.h3("card.md")
    if card.is_file():
        doc.pre(card.read_text(encoding="utf-8", errors="replace"))
    else:
        doc.p("This model directory has no card.md.")


# -- entry points -------------------------------------------------------------------------------------------
def write_report(args) -> tuple[Path, Path]:
    """`seq2seq report`: decode, score, analyse and write the HTML report and its Markdown twin."""
    if args.bootstrap < 1:
        raise UserError("--bootstrap must be >= 1")
    if args.examples < 1:
        raise UserError("--examples must be >= 1")
    captioning = bool(args.images or args.captions or args.dataset)
    if args.src and captioning:
        raise UserError("give --src/--ref (translation) or --images/--captions/--dataset (captioning), not both")
    if not args.src and not captioning:
        raise UserError("nothing to evaluate: give --src FILE --ref FILE (translation) or --captions FILE / "
                        "--dataset flickr8k (captioning)")
    out = check_out(args.out)  # before the slow part
    ev = decode_translation(args) if args.src else decode_captions(args)
    if ev.task == "translate":
        score_translation(ev, args.lowercase, args.bootstrap)
    else:
        score_captions(ev, args.bootstrap)
    name = system_name(ev.model_dir)
    compare = decode_compare(ev, args) if args.compare else None
    if compare is not None and compare[1] == name:
        compare = (compare[0], compare[1] + " (compared)")
    kind = "translation" if ev.task == "translate" else "captioning"
    doc = Doc(args.title or f"{name}: {kind} evaluation report")
    section_scores(doc, ev, args.bootstrap)
    if compare is not None:
        rows = paired_test(ev, name, compare[0], compare[1], args.lowercase, args.bootstrap)
        section_significance(doc, rows, name, compare[1])
    section_length(doc, ev, compare)
    summary = section_training(doc, ev.model_dir)
    section_examples(doc, ev, args.examples)
    section_attention(doc, ev, args.attention)
    section_card(doc, ev, summary)
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    inputs = ", ".join(f"{k} {v}" for k, v in ev.inputs_desc)
    meta = [f"model {ev.model_dir} · {inputs}", f"generated {now} by seq2seq {__version__}"]
    return doc.write(out, meta)
