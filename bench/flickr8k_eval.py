"""Flickr8k test-split scores of a captioning model, beside the published Show-Attend-and-Tell anchors.

    .venv/bin/python bench/flickr8k_eval.py [--model checkpoints/flickr8k-en] [--split test] [--beams 1 5]

BLEU-1..4: sacreBLEU (13a tokenization, lowercased) against all 5 references; CIDEr-D: seq2seq.metrics.cider_d
(coco-caption's formula) on whitespace tokens. Hypotheses and references are normalized the same way:
lowercased, punctuation-only tokens removed. The published numbers used the coco-caption toolkit's own
tokenization on the original-resolution images; this copy of Flickr8k is 224x224 (see its README).
"""

from __future__ import annotations

import argparse
import time

import torch

from seq2seq.caption import Captioner
from seq2seq.corpus import flickr8k, normalize_caption
from seq2seq.images import load_image
from seq2seq.metrics import caption_bleu, cider_d

ANCHORS = {  # Xu et al. 2015, Table 1, Flickr8k
    "Show-Attend-Tell soft (Xu et al. 2015)": (67.0, 44.8, 29.9, 19.5),
    "Show-Attend-Tell hard (Xu et al. 2015)": (67.0, 45.7, 31.4, 21.3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="checkpoints/flickr8k-en")
    ap.add_argument("--root", help="Flickr8k folder (default: ../shared/data/flickr8k)")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths, refs = flickr8k(args.split, args.root)
    images = [load_image(p) for p in paths]
    streams = [[r[k] for r in refs] for k in range(5)]
    cap = Captioner.load(args.model, "auto")
    print(f"\n{args.model} on Flickr8k {args.split} ({len(paths)} images, 5 references each)\n")
    print("| system | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | images/s |\n|---|---|---|---|---|---|---|")
    for beam in args.beams:
        tic = time.perf_counter()
        hyps = [normalize_caption(c.text) for c in cap.generate(images, beam=beam)]
        ips = len(images) / (time.perf_counter() - tic)
        b = caption_bleu(hyps, streams)
        c = cider_d(hyps, refs) * 100
        print(f"| ours, beam {beam} | " + " | ".join(f"{b[f'bleu{n}'].score:.1f}" for n in range(1, 5))
              + f" | {c:.1f} | {ips:.1f} |")
    for name, scores in ANCHORS.items():
        print(f"| {name} | " + " | ".join(f"{s:.1f}" for s in scores) + " | - | - |")
    print(f"\nBLEU signature: `{b['bleu4'].signature}`; CIDEr-D x100 as usually reported.")


if __name__ == "__main__":
    main()
