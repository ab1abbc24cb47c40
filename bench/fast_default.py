"""Which decoding setting should a model's default be? Every candidate (models, beam, length penalty, shortlist) is
scored on validation data (sacreBLEU, cased) and timed side by side in one run (--repeats: the fastest of N). ONE
table, fastest first, marks the best setting and the fastest within --tolerance BLEU of it (speeds within --tie of
each other: the higher BLEU): the rule for `seq2seq translate`'s default.

    nice python bench/fast_default.py --systems multi30k-en-de multi30k-en-de+multi30k-en-de-v2 \\
        --beams 2 3 5 --alphas 1.0 1.2 --shortlist on off --threads 2

A system is a model folder or shipped name, or several joined by '+' (an ensemble, as `seq2seq serve` writes it);
each is loaded as written (a config's own search.ensemble is not added). The data: --src/--ref, else Multi30k's val
set for the first system's direction (--root). Sentences/s is decode time only (loading and a warm-up excluded).
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass


@dataclass
class Row:
    system: str
    beam: int
    alpha: float
    shortlist: bool
    bleu: float
    sps: float  # sentences per second


def pick(rows: list[Row], tolerance: float, tie: float = 0.0) -> tuple[Row, Row]:
    """(best, default): the highest BLEU (ties: the faster), and the fastest row within `tolerance` BLEU of it;
    rows within a fraction `tie` of that speed are a tie (timing noise), won by the higher BLEU."""
    best = max(rows, key=lambda r: (r.bleu, r.sps))
    close = [r for r in rows if r.bleu >= best.bleu - tolerance - 1e-9]
    fastest = max(r.sps for r in close)
    return best, max((r for r in close if r.sps >= fastest * (1 - tie)), key=lambda r: (r.bleu, r.sps))


def table(rows: list[Row], tolerance: float, tie: float = 0.0) -> str:
    """Markdown, fastest first; the best row and the fast default marked."""
    best, default = pick(rows, tolerance, tie)
    lines = ["| system | beam | alpha | shortlist | val BLEU | vs best | sent/s | |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r.sps):
        mark = " and ".join(m for m, hit in (("best", r is best), (f"fastest within {tolerance:g}", r is default)) if hit)
        lines.append(f"| {r.system} | {r.beam} | {r.alpha:g} | {'on' if r.shortlist else 'off'} | {r.bleu:.2f} | "
                     f"{r.bleu - best.bleu:+.2f} | {r.sps:.1f} | {mark} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    import torch

    from seq2seq.data.corpus import multi30k, read_lines
    from seq2seq.metrics import corpus_scores
    from seq2seq.translate import Translator
    from seq2seq.serve.registry import members

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", nargs="+", required=True, help="model folders or shipped names; A+B: an ensemble")
    ap.add_argument("--beams", type=int, nargs="+", default=[5])
    ap.add_argument("--alphas", type=float, nargs="+", help="length penalties (default: each system's config)")
    ap.add_argument("--shortlist", nargs="+", choices=("on", "off"), default=["on"])
    ap.add_argument("--src", help="source file (default: Multi30k val of the first system's direction)")
    ap.add_argument("--ref", help="reference file, with --src")
    ap.add_argument("--root", help="Multi30k folder (default: ../shared/data/multi30k)")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N sentences")
    ap.add_argument("--tolerance", type=float, default=0.5, help="BLEU below the best a fast default may be")
    ap.add_argument("--tie", type=float, default=0.02, help="speeds within this fraction of the fastest are a tie, "
                    "won by the higher BLEU (this machine's timing noise is larger)")
    ap.add_argument("--repeats", type=int, default=1, help="decode each candidate N times; its speed is the fastest")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if (args.src is None) != (args.ref is None):
        ap.error("--src and --ref go together")
    torch.set_num_threads(args.threads)
    loaded = {s: Translator.load(members(s), args.device, ensemble=False) for s in args.systems}
    first = loaded[args.systems[0]].config.data
    src, ref = ((read_lines(args.src), read_lines(args.ref)) if args.src else
                multi30k("val", first.src_lang, first.tgt_lang, args.root))
    if args.limit:
        src, ref = src[: args.limit], ref[: args.limit]
    rows = []
    for system, tr in loaded.items():
        tr.translate(src[:32])  # warm-up: allocator, threads, lazy imports
        for beam, alpha, sl in itertools.product(args.beams, args.alphas or [tr.search.alpha], args.shortlist):
            seconds = float("inf")
            for _ in range(max(1, args.repeats)):  # the fastest of N: the least disturbed by other work
                tic = time.perf_counter()
                hyps = tr.translate(src, beam=beam, alpha=alpha, shortlist=sl == "on")
                seconds = min(seconds, time.perf_counter() - tic)
            bleu = corpus_scores(hyps, ref, metrics=("bleu",))["bleu"].score
            rows.append(Row(system, beam, alpha, sl == "on", bleu, len(src) / seconds))
            print(f"{system} beam {beam} alpha {alpha:g} shortlist {sl}: BLEU {bleu:.2f}, {len(src) / seconds:.1f} "
                  f"sent/s", flush=True)
    out = table(rows, args.tolerance, args.tie)
    best, default = pick(rows, args.tolerance, args.tie)
    shortlist = "on" if default.shortlist else "off"
    print(f"\n{len(src)} sentences, {args.threads} threads, {args.device}, the fastest of {args.repeats} runs\n\n"
          f"{out}\n\nbest: {best.system} beam {best.beam} alpha {best.alpha:g} ({best.bleu:.2f}); fast default: "
          f"{default.system} beam {default.beam} alpha {default.alpha:g} shortlist {shortlist} ({default.bleu:.2f}, "
          f"{default.sps / best.sps:.2f}x the best's speed)")
    return out


if __name__ == "__main__":
    main()
