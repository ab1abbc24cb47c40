"""Score a Tatoeba Mandarin<->English model: choose beam and length penalty on dev, then report dev and test
(sacreBLEU with its `zh` tokenizer for Chinese output, 13a for English; chrF), with signatures, as Markdown.

    .venv/bin/python bench/tatoeba_eval.py --model checkpoints/tatoeba-zh-en [--beams 5 10] [--alphas 0.6 1.0]

For scale (not the same test sentences): Helsinki-NLP's opus-mt Transformers, trained on tens of millions of
OPUS pairs, report 36.1 BLEU / 54.8 chrF (zho-eng) and 31.4 BLEU (eng-zho) on their own Tatoeba test sample.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from seq2seq.data.corpus import read_lines
from seq2seq.metrics import bleu_tokenize, corpus_scores
from seq2seq.translate import Translator

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tatoeba-cmn-eng"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--root", default=str(ROOT), help="folder holding {dev,test}.{en,zh}")
    ap.add_argument("--beams", type=int, nargs="+", default=[5])
    ap.add_argument("--alphas", type=float, nargs="+", default=[1.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--splits", nargs="+", default=["dev", "test"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tr = Translator.load(args.model, device="auto")
    src_lang, tgt_lang = tr.config.data.src_lang, tr.config.data.tgt_lang
    tokenize = bleu_tokenize(tgt_lang)
    data = {s: (read_lines(f"{args.root}/{s}.{src_lang}"), read_lines(f"{args.root}/{s}.{tgt_lang}")) for s in args.splits}

    grid = len(args.beams) * len(args.alphas) > 1
    best = None if grid else (0.0, args.beams[0], args.alphas[0])  # one setting: nothing to choose
    if grid:
        print("| beam | alpha | dev BLEU |\n|---|---|---|")
    for beam in args.beams if grid else []:
        for alpha in args.alphas:
            score = corpus_scores(tr.translate(data["dev"][0], beam=beam, alpha=alpha), data["dev"][1],
                                  metrics=("bleu",), tokenize=tokenize)["bleu"].score
            if grid:
                print(f"| {beam} | {alpha} | {score:.2f} |", flush=True)
            if best is None or score > best[0]:
                best = (score, beam, alpha)
    _, beam, alpha = best
    print(f"\n{args.model} ({src_lang}->{tgt_lang}), beam {beam}, alpha {alpha} {'(chosen on dev)' if grid else ''}\n")
    print("| set | BLEU | chrF | sentences/s |\n|---|---|---|---|")
    sigs = {}
    for split in args.splits:
        src, ref = data[split]
        tic = time.perf_counter()
        hyps = tr.translate(src, beam=beam, alpha=alpha)
        sps = len(src) / (time.perf_counter() - tic)
        s = corpus_scores(hyps, ref, metrics=("bleu", "chrf"), tokenize=tokenize)
        print(f"| {split} | {s['bleu'].score:.2f} | {s['chrf'].score:.2f} | {sps:.1f} |", flush=True)
        sigs = {"BLEU": s["bleu"].signature, "chrF": s["chrf"].signature}
    print()
    for k, v in sigs.items():
        print(f"- {k}: `{v}`")


if __name__ == "__main__":
    main()
