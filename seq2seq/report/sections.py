"""The report's sections on results: scores with intervals, paired significance, length analysis, training
curves from log.jsonl, and best/worst examples (attention and the model card have their own modules)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.data.images import load_image
from seq2seq.errors import UserError
from seq2seq.report.decode import System
from seq2seq.report.document import (
    Cell,
    Doc,
    cell,
    code,
    esc,
    md_code,
    md_escape,
    new_figure,
    num,
    pil_base64,
)
from seq2seq.report.inputs import TestSet
from seq2seq.report.stats import SEED, Scores, SentenceStats, bucket_scores


@dataclass
class Evaluation:
    """What the sections show: the test set, the system, its hypotheses, the decoding time and the scores."""

    test: TestSet
    system: System
    hyps: list[str]
    seconds: float
    scores: Scores

    @property
    def items(self) -> str:
        return "sentences" if self.test.task == "translate" else "images"


def section_scores(doc: Doc, ev: Evaluation, n_boot: int) -> None:
    doc.section("scores", "Scores")
    what, s = ev.items, ev.system.search
    doc.p(f"{len(ev.hyps)} {what}; decoded with beam {s.beam}, alpha {s.alpha}. 95% confidence intervals: "
          f"2.5th-97.5th percentiles of {n_boot} bootstrap resamples of the {what} (seed {SEED}), each rescored "
          f"from per-{what[:-1]} sufficient statistics.")
    rows, ids = [], []
    for key, score, (lo, hi) in ev.scores.rows:
        d = 3 if key == "cider" else 2
        rows.append([score.name, num(f"{score.score:.{d}f}", "num score"), num(f"[{lo:.{d}f}, {hi:.{d}f}]"),
                     code(score.signature)])
        ids.append(key)
    doc.table(["metric", "score", "95% CI", "signature"], rows, "scores", ids)
    if ev.test.task == "caption":
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
        out.append([r["metric"], r["baseline"], r["system"], num(f"{r['delta']:+.2f}"),
                    num(f"{r['p']:.4f}", "num pvalue"),
                    Cell(f'<span class="{"sig" if sig else "nsig"}">{mark}</span>', mark), code(r["signature"])])
    doc.table(["metric", f"baseline: {other}", f"system: {name}", "difference", "p-value", "", "signature"], out,
              "significance", [r["metric"] for r in rows])
    if all(r["delta"] == 0 for r in rows) and all(r["p"] == 1.0 for r in rows):
        doc.note("The two systems' outputs are identical: p = 1 (sacreBLEU's formula would give 1/(resamples + 1) "
                 "when no resample differs).")


def section_length(doc: Doc, ev: Evaluation, compare: tuple[list[str], str] | None) -> None:
    doc.section("length", "Length analysis")
    t, stats = ev.test, ev.scores.bleu
    buckets = bucket_scores(stats, t.lengths)
    name = "BLEU" if t.task == "translate" else "BLEU-4"
    total = stats.rows.sum(0)
    ratio = total[0] / total[1] if total[1] else float("nan")
    doc.p(f"Hypothesis/reference length ratio over the whole set: {ratio:.3f} (BLEU's sys_len/ref_len, "
          f"{int(total[0])}/{int(total[1])} tokens; below 1 means a brevity penalty).")
    cmp_buckets = None
    if compare is not None:
        cmp_buckets = bucket_scores(SentenceStats(stats.metric, compare[0], t.streams), t.lengths)
    headers = [t.length_name, "n", name, "hyp/ref length"] + ([f"{name} ({compare[1]})"] if compare else [])
    rows = [[b.label, num(str(b.n)), b.bleu, num(f"{b.ratio:.3f}")] + ([cb.bleu] if cmp_buckets else [])
            for b, cb in zip(buckets, cmp_buckets or buckets)]
    doc.table(headers, rows, "buckets")
    x = np.arange(len(buckets))
    labels = [f"{b.label}\n(n={b.n})" for b in buckets]
    doc.row_start()
    fig = new_figure(max(5.0, 0.9 * len(buckets) + 2), 3.2)
    ax = fig.subplots()
    w = 0.38 if cmp_buckets else 0.6
    ax.bar(x - (w / 2 if cmp_buckets else 0), [b.bleu for b in buckets], w, color="#3b76c4",
           label=ev.system.name)
    if cmp_buckets:
        ax.bar(x + w / 2, [b.bleu for b in cmp_buckets], w, color="#e39b2d", label=compare[1])
        ax.legend(fontsize=8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel(t.length_name)
    ax.set_ylabel(name)
    ax.set_title(f"{name} by {t.length_name.split(' (')[0]}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    doc.figure(fig, f"Corpus {name} of each length bucket", "plot", {"plot": "bleu-by-length"})
    fig = new_figure(max(5.0, 0.9 * len(buckets) + 2), 3.0)
    ax = fig.subplots()
    ax.plot(x, [b.ratio for b in buckets], "o-", color="#3b76c4")
    ax.axhline(1.0, color="#888", lw=1, ls="--")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel(t.length_name)
    ax.set_ylabel("hypothesis / reference length")
    ax.set_title("Length ratio by bucket (1 = as long as the reference)", fontsize=10)
    ax.grid(alpha=0.3)
    doc.figure(fig, "Hypothesis/reference length ratio of each length bucket", "plot", {"plot": "length-ratio"})
    doc.row_end()


# -- training curves -------------------------------------------------------------------------------------------
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


def _series(records: list[dict], key: str) -> tuple[list, list]:
    """(steps, values) of one finite numeric field."""
    pts = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def section_training(doc: Doc, model_dir: Path) -> dict:
    """Loss, validation BLEU and learning-rate curves, and a summary; returns {steps, best_bleu, best_step}."""
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
    doc.figure(_training_figure(train, valid), "Training and validation loss, validation BLEU, and learning rate "
               "against the step", "plot", {"plot": "training"})
    summary = {"steps": max(r["step"] for r in records)}
    rows = [["steps logged", num(str(summary["steps"]))]]
    xs, ys = _series(valid, "bleu")
    if xs:
        best = max(range(len(ys)), key=lambda i: ys[i])
        summary["best_bleu"], summary["best_step"] = ys[best], xs[best]
        rows.append(["best validation BLEU", num(f"{ys[best]:.2f} (step {xs[best]})")])
    if train:
        rows.append(["last train loss", float(train[-1]["loss"])])
        toks = [r["tok_s"] for r in train if isinstance(r.get("tok_s"), (int, float))]
        if toks:
            rows.append(["mean training speed (target tokens/s)", num(f"{sum(toks) / len(toks):,.0f}")])
    doc.table(["", "value"], rows)
    return summary


def _training_figure(train: list[dict], valid: list[dict]):
    fig = new_figure(11, 3.2)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for rs, label, style in ((train, "train loss", "-"), (valid, "valid loss", "o-")):
        xs, ys = _series(rs, "loss")
        if xs:
            ax1.plot(xs, ys, style, ms=3, label=label)
    ax1.set_title("loss", fontsize=10)
    ax1.legend(fontsize=8)
    xs, ys = _series(valid, "bleu")
    if xs:
        ax2.plot(xs, ys, "o-", ms=3, color="#2a9d55")
        best = max(range(len(ys)), key=lambda i: ys[i])
        ax2.plot([xs[best]], [ys[best]], "*", ms=12, color="#d4a106", label=f"best {ys[best]:.2f} @ {xs[best]}")
        ax2.legend(fontsize=8)
    ax2.set_title("validation BLEU", fontsize=10)
    xs, ys = _series(train or valid, "lr")
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
    return fig


# -- examples --------------------------------------------------------------------------------------------------
def pick_examples(chrf: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    """The k best and k worst items by sentence chrF (ties broken by position, so the choice is stable)."""
    order = sorted(range(len(chrf)), key=lambda i: (-chrf[i], i))
    k = min(k, max(1, len(order) // 2)) if len(order) > 1 else min(k, len(order))
    worst = sorted(range(len(chrf)), key=lambda i: (chrf[i], i))[:k]
    return order[:k], worst


def _refs_cell(refs: list[str]) -> Cell:
    if len(refs) == 1:
        return cell(refs[0], cls="text")
    return Cell("<br>".join(f"{i + 1}. {esc(r)}" for i, r in enumerate(refs)),
                " / ".join(f"{i + 1}. {md_escape(r)}" for i, r in enumerate(refs)), "text")


def _thumb(path: str, size: int = 140) -> Cell:
    try:
        img = load_image(path)
    except UserError:
        return Cell("(image unreadable)", "(image unreadable)")
    img.thumbnail((size, size))
    name = Path(path).name
    return Cell(f'<img class="thumb" alt="{esc(name)}" src="data:image/png;base64,{pil_base64(img)}">'
                f"<br><small>{esc(name)}</small>", md_code(name))


def section_examples(doc: Doc, ev: Evaluation, k: int) -> None:
    doc.section("examples", "Best and worst examples")
    if k == 0:
        doc.note("No examples asked for (--examples 0).")
        return
    t = ev.test
    best, worst = pick_examples(ev.scores.chrf, k)
    doc.p("Ranked by sentence-level chrF against all references. Text is shown exactly as read and produced.")
    for title, idx, sid in (("Best", best, "best"), ("Worst", worst, "worst")):
        doc.h3(f"{title} {len(idx)} by sentence chrF")
        rows = []
        for i in idx:
            src = cell(t.sources[i], cls="text") if t.task == "translate" else _thumb(t.sources[i])
            rows.append([num(str(i + 1)), float(ev.scores.chrf[i]), src, _refs_cell(t.refs[i]),
                         cell(ev.hyps[i], cls="text")])
        doc.table(["line" if t.task == "translate" else "#", "chrF", "source" if t.task == "translate" else "image",
                   "reference" + ("s" if len(t.streams) > 1 else ""), "hypothesis"], rows, f"examples {sid}")
