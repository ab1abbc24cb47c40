"""Flickr8k scores of a captioning model (or an ensemble), one row per search setting, beside the published
Show-Attend-and-Tell anchors: tune on val, report on test.

    .venv/bin/python bench/flickr8k_eval.py [--model checkpoints/flickr8k-en] [--split test] [--beams 1 5]
    .venv/bin/python bench/flickr8k_eval.py --model runs/a --model runs/b --split val --beams 3 5 --alphas 0 0.5 1 \
        --no-repeat-ngram 0 3 --lm runs/lm-en --lm-weights 0 0.1 0.2 --checkpoint average --limit 200

Rows: every combination of --beams, --alphas, --no-repeat-ngram and --lm-weights (with --lm; weight 0 is no
fusion); a setting not given is the (first) model's config. Images are loaded, transformed and, when every model
shares one backbone, run through it once; images/s counts that shared work in every row (not the file reading).
BLEU-1..4: sacreBLEU (13a tokenization, lowercased) against all 5 references; CIDEr-D: seq2seq.metrics.cider_d
(coco-caption's formula) on whitespace tokens. Hypotheses and references are normalized the same way:
lowercased, punctuation-only tokens removed. The published numbers used the coco-caption toolkit's own
tokenization on the original-resolution images; this copy of Flickr8k is 224x224 (see its README).
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time

import torch

from seq2seq.caption import Captioner, caption_sources
from seq2seq.data.corpus import flickr8k, normalize_caption
from seq2seq.data.images import eval_transform, load_image
from seq2seq.metrics import caption_bleu, cider_d

ANCHORS = {  # Xu et al. 2015, Table 1, Flickr8k
    "Show-Attend-Tell soft (Xu et al. 2015)": (67.0, 44.8, 29.9, 19.5),
    "Show-Attend-Tell hard (Xu et al. 2015)": (67.0, 45.7, 31.4, 21.3),
}


def arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="model folder or shipped name; repeat it for an ensemble "
                    "(default: checkpoints/flickr8k-en)")
    ap.add_argument("--root", help="Flickr8k folder (default: ../shared/data/flickr8k)")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--alphas", type=float, nargs="+", default=[None], help="length penalties (default: config)")
    ap.add_argument("--no-repeat-ngram", type=int, nargs="+", default=[None], metavar="N",
                    help="n-gram repeat blocks, 0: off (default: config)")
    ap.add_argument("--lm", metavar="DIR", help="shallow fusion: a language model on the captioner's vocabulary")
    ap.add_argument("--lm-weights", type=float, nargs="+", metavar="W", help="fusion weights (0: no fusion)")
    ap.add_argument("--checkpoint", choices=("best", "last", "average"), help="in a training run's folder")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N images of the split")
    ap.add_argument("--batch-size", type=int, help="images per batch (default: config)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if bool(args.lm) != bool(args.lm_weights):
        ap.error("--lm and --lm-weights go together")
    if args.limit < 0:
        ap.error("--limit must be >= 0")
    return args


def settings(args: argparse.Namespace) -> list[dict]:
    """One dict of search settings per row: beams x alphas x no-repeat-ngram x LM weights."""
    fusion = [{"lm": args.lm, "lm_weight": w} for w in args.lm_weights] if args.lm else [{}]
    return [{"beam": b, "alpha": a, "no_repeat_ngram": n, "batch_size": args.batch_size, **f}
            for b, a, n, f in itertools.product(args.beams, args.alphas, args.no_repeat_ngram, fusion)]


def label(s) -> str:
    """What a row searched with: beam and alpha always, the repeat block and the fusion weight when on."""
    return ", ".join([f"beam {s.beam}", f"alpha {s.alpha:g}"] + ([f"no-repeat {s.no_repeat_ngram}"] * bool(
        s.no_repeat_ngram)) + ([f"LM x {s.lm_weight:g}"] if s.lm and s.lm_weight else []))


@torch.inference_mode()
def encoder_inputs(cap: Captioner, images: list, batch: int) -> tuple[list[torch.Tensor], float]:
    """What every row decodes from, computed once, and the seconds it took: the one backbone's grid (N, C) when all
    the models share it, else the transformed image (3, S, S)."""
    tic = time.perf_counter()
    tf = eval_transform(cap.image_size, cap.image_transform)
    xs = [tf(im) for im in images]
    enc = cap.model.encoder
    if all(m.encoder.backbone is enc.backbone for m in cap.members):
        xs = [g for s in range(0, len(xs), batch) for g in enc.grid(torch.stack(xs[s : s + batch]).to(cap.device))]
    return xs, time.perf_counter() - tic


def main(argv: list[str] | None = None) -> str:
    args = arguments(argv)
    torch.set_num_threads(args.threads)
    paths, refs = flickr8k(args.split, args.root)
    if args.limit:
        paths, refs = paths[: args.limit], refs[: args.limit]
    streams = [[r[k] for r in refs] for k in range(5)]
    models = args.model or ["checkpoints/flickr8k-en"]
    cap = Captioner.load(models, args.device, checkpoint=args.checkpoint)
    sources, shared = encoder_inputs(cap, [load_image(p) for p in paths], cap.search.batch_size)
    weights = f", {args.checkpoint} checkpoint" if args.checkpoint else ""
    lines = [f"{' + '.join(models)}{weights} on Flickr8k {args.split} ({len(paths)} images, 5 references each)", "",
             "| system | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | images/s |", "|---|---|---|---|---|---|---|"]
    for row in settings(args):
        s = cap.search.updated(**row)
        tic = time.perf_counter()
        caps = caption_sources([cap.model, *cap.members], cap.tok, sources, s, cap.device, lms=cap.lms)
        ips = len(paths) / (shared + time.perf_counter() - tic)
        hyps = [normalize_caption(c.text) for c in caps]
        b, c = caption_bleu(hyps, streams), cider_d(hyps, refs) * 100
        lines.append(f"| ours, {label(s)} | " + " | ".join(f"{b[f'bleu{n}'].score:.1f}" for n in range(1, 5))
                     + f" | {c:.1f} | {ips:.1f} |")
    lines += [f"| {name} | " + " | ".join(f"{x:.1f}" for x in scores) + " | - | - |" for name, scores in ANCHORS.items()]
    command = shlex.join(["python", "bench/flickr8k_eval.py", *(sys.argv[1:] if argv is None else argv)])
    lines += ["", f"BLEU signature: `{b['bleu4'].signature}`; CIDEr-D x100 as usually reported; "
              f"{args.threads} thread(s), device {cap.device}.", f"Command: `{command}`"]
    out = "\n".join(lines)
    print(out)
    return out


if __name__ == "__main__":
    from seq2seq.errors import UserError

    try:
        main()
    except UserError as e:
        sys.exit(f"error: {e}")
