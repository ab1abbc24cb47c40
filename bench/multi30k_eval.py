"""Score a Multi30k model: tune beam size and length penalty on val, then report val / test_2016_flickr /
test_2017_flickr, cased and lowercased (sacreBLEU, with signatures), as a Markdown table.

    .venv/bin/python bench/multi30k_eval.py --model checkpoints/multi30k-en-de [--beams 5 10] [--alphas 0.4 0.8 1.2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from seq2seq.data.corpus import multi30k
from seq2seq.metrics import corpus_scores
from seq2seq.translate import Translator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--root", help="Multi30k folder (default: ../shared/data/multi30k)")
    ap.add_argument("--beams", type=int, nargs="+", default=[5])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.6])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quantize", action="store_true")
    ap.add_argument("--shortlist", action=argparse.BooleanOptionalAction, default=None,
                    help="the model's lexical shortlist, or (--no-shortlist) the whole vocabulary; default: its config")
    ap.add_argument("--no-ensemble", dest="ensemble", action="store_false",
                    help="the model alone, not the ensemble its config names (search.ensemble)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tr = Translator.load(args.model, device="auto", quantize=args.quantize, ensemble=args.ensemble,
                         shortlist=args.shortlist)
    src_lang, tgt_lang = tr.config.data.src_lang, tr.config.data.tgt_lang
    val_src, val_ref = multi30k("val", src_lang, tgt_lang, args.root)

    best = None
    if len(args.beams) * len(args.alphas) > 1:
        print("| beam | alpha | val BLEU |\n|---|---|---|")
    for beam in args.beams:
        for alpha in args.alphas:
            score = corpus_scores(tr.translate(val_src, beam=beam, alpha=alpha), val_ref, metrics=("bleu",))["bleu"].score
            if len(args.beams) * len(args.alphas) > 1:
                print(f"| {beam} | {alpha} | {score:.2f} |")
            if best is None or score > best[0]:
                best = (score, beam, alpha)
    _, beam, alpha = best
    name = " + ".join(Path(d).name for d in tr.model_dirs)  # with the members the model's config names, if any
    print(f"\n{name} ({src_lang}->{tgt_lang}), beam {beam}, alpha {alpha} "
          f"(chosen on val){', int8' if args.quantize else ''}"
          f"{', lexical shortlist' if tr.shortlist is not None and tr.search.shortlist else ', whole vocabulary'}\n")
    print("| set | BLEU | BLEU (lc) | chrF | TER | sentences/s |\n|---|---|---|---|---|---|")
    sigs = {}
    for split in ("val", "test_2016_flickr", "test_2017_flickr"):
        src, ref = multi30k(split, src_lang, tgt_lang, args.root)
        tic = time.perf_counter()
        hyps = tr.translate(src, beam=beam, alpha=alpha)
        sps = len(src) / (time.perf_counter() - tic)
        cased = corpus_scores(hyps, ref)
        lc = corpus_scores(hyps, ref, lowercase=True, metrics=("bleu",))
        print(f"| {split} | {cased['bleu'].score:.2f} | {lc['bleu'].score:.2f} | {cased['chrf'].score:.2f} | "
              f"{cased['ter'].score:.2f} | {sps:.1f} |")
        sigs = {"BLEU": cased["bleu"].signature, "BLEU (lc)": lc["bleu"].signature, "chrF": cased["chrf"].signature,
                "TER": cased["ter"].signature}
    print()
    for k, v in sigs.items():
        print(f"- {k}: `{v}`")


if __name__ == "__main__":
    main()
