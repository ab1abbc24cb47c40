"""How big a lexical shortlist must be: BLEU and speed of beam search for several (top, frequent) sizes.

    .venv/bin/python bench/shortlist_sweep.py --model checkpoints/multi30k-en-de [--split val]
        [--sizes 10:200 20:200 30:300 50:500] [--threads 2] [--root ../shared/data/multi30k]

Each size trains a shortlist (IBM Model 1) on the model's Multi30k training pairs, translates the split with
the model's own beam and alpha, and scores it with sacreBLEU; the first row is the whole vocabulary. Choose
sizes on val, never on test. Speeds on a shared 2-core machine drift by a fifth from minute to minute: read
BLEU as exact and sentences/s as rough.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from seq2seq.data.corpus import multi30k
from seq2seq.metrics import corpus_scores
from seq2seq.decode.shortlist import Shortlist, ibm1
from seq2seq.translate import Translator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a Multi30k translation model directory")
    ap.add_argument("--split", default="val", help="Multi30k split to translate (default val)")
    ap.add_argument("--sizes", nargs="+", default=["10:200", "20:200", "30:300", "50:500"], metavar="TOP:FREQUENT")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", default=None, help="Multi30k folder (default ../shared/data/multi30k)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tr = Translator.load(args.model, device="cpu", ensemble=False)  # this model's own shortlist, alone
    src_lang, tgt_lang = tr.config.data.src_lang, tr.config.data.tgt_lang
    src, ref = multi30k(args.split, src_lang, tgt_lang, args.root)
    train_src, train_tgt = multi30k("train", src_lang, tgt_lang, args.root)
    tgt_ids = tr.tgt_tok.encode(train_tgt)
    table = ibm1(tr.src_tok.encode(train_src), tgt_ids, len(tr.src_tok), len(tr.tgt_tok))  # once, for all sizes
    tr.generate(src[:64])  # warm-up
    print(f"{Path(args.model).name} on {args.split} ({len(src)} sentences), beam {tr.search.beam}, "
          f"alpha {tr.search.alpha}, {args.threads} threads\n")
    print("| shortlist (top per source piece : most frequent) | mean size per sentence | mean columns per batch | "
          "BLEU | sentences/s |")
    print("|---|---|---|---|---|")
    for size in [None, *args.sizes]:
        if size is None:
            tr.shortlist, label = None, "none (whole vocabulary)"
        else:
            top, frequent = (int(x) for x in size.split(":"))
            tr.shortlist, label = Shortlist.from_table(table, tgt_ids, top, frequent), size
        widths, sizes = [], []
        if tr.shortlist is not None:  # record the columns of every batch and each sentence's own shortlist size
            for_batch = tr.shortlist.for_batch

            def recording(src, _f=for_batch):
                columns, own = _f(src)
                widths.append(len(columns))
                sizes.extend(own.sum(1).tolist())
                return columns, own

            tr.shortlist.for_batch = recording
        tic = time.perf_counter()
        hyps = [t.text for t in tr.generate(src)]
        speed = len(src) / (time.perf_counter() - tic)
        bleu = corpus_scores(hyps, [ref], metrics=("bleu",))["bleu"].score
        mean = lambda xs: f"{sum(xs) / len(xs):,.0f}" if xs else f"{len(tr.tgt_tok):,}"  # noqa: E731
        print(f"| {label} | {mean(sizes)} | {mean(widths)} | {bleu:.2f} | {speed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
