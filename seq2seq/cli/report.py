"""`seq2seq report` (an evaluation report of a model on a test set) and `seq2seq diagnose` (RNN gradient flow)."""

from __future__ import annotations

from seq2seq.cli.common import (
    checkpoint_arg,
    command,
    decode_args,
    ensemble_arg,
    lm_args,
    progress_arg,
    shortlist_arg,
)
from seq2seq.extras import require_extra


def register(sub) -> None:
    rp = command(sub, "report", _cmd_report,
                 help="evaluation report: one self-contained HTML file plus a Markdown twin",
                 description="Decode a test set and write an HTML report (scores with sacreBLEU signatures and "
                 "bootstrap CIs, length analysis, training curves, best/worst examples, attention, model card) "
                 "and OUT with .md beside it. Translation: --src/--ref. Captioning: --captions TSV [--images "
                 "LIST] or --dataset flickr8k.",
                 examples=["seq2seq report --src test.en --ref test.de --out reports/en-de.html",
                           "seq2seq report --model flickr8k-en --dataset flickr8k --out reports/captions.html",
                           "seq2seq report --model runs/new --src test.en --ref test.de --compare multi30k-en-de "
                           "--out reports/new-vs-shipped.html",
                           "seq2seq report --model multi30k-en-de --model runs/en-de-2 --lm runs/lm-de --lm-weight 0.2 "
                           "--src val.en --ref val.de --compare multi30k-en-de --out reports/ensemble-lm.html"])
    rp.add_argument("--model", action="append", default=[],
                    help="model directory or shipped model name; repeat it for an ensemble (same "
                    "vocabularies, and for captioners the same image size; log-probabilities averaged); default: the shipped one")
    rp.add_argument("--out", required=True, help="HTML file to write; the Markdown twin gets the .md suffix")
    rp.add_argument("--src", help="translation: source file, one sentence per line")
    rp.add_argument("--ref", action="append", default=[], help="translation: reference file (repeat for several)")
    rp.add_argument("--lowercase", "-lc", action="store_true", help="translation: case-insensitive scores")
    rp.add_argument("--images", help="captioning: file listing image paths, one per line (default: all in --captions)")
    rp.add_argument("--captions", help="captioning: TSV of image<TAB>caption lines (several per image allowed)")
    rp.add_argument("--images-dir", help="captioning: folder the TSV's image names are relative to (default: its own)")
    rp.add_argument("--dataset", choices=("flickr8k",), help="captioning: a known dataset instead of --captions")
    rp.add_argument("--split", help="--dataset split (default: test)")
    rp.add_argument("--root", help="--dataset folder (default: ../shared/data/<dataset>)")
    rp.add_argument("--compare", metavar="MODEL_OR_HYPS",
                    help="baseline for paired bootstrap significance: a model directory/name or a hypothesis file")
    rp.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N sentences/images (0: all)")
    rp.add_argument("--examples", type=int, default=5, metavar="N", help="best and worst examples to show (0: none)")
    rp.add_argument("--attention", type=int, default=3, metavar="N", help="attention plots to draw")
    rp.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples")
    rp.add_argument("--title", help="report title")
    decode_args(rp, "sentences/images")
    shortlist_arg(rp)
    lm_args(rp)
    progress_arg(rp)
    checkpoint_arg(rp)
    ensemble_arg(rp)

    dg = command(sub, "diagnose", _cmd_diagnose,
                 help="long-range memory and gradient flow (Elman RNN vs LSTM vs GRU, clipping) as an HTML page",
                 description="Train an Elman RNN, an LSTM and a GRU to recall a marked symbol across sequence "
                 "lengths T = 5, 10, 20, 50, 100 (up to --length), measure ||dL/dh_k|| against the distance "
                 "before and after training, and train an Elman RNN with exploding gradients with and without "
                 "clipping; write an HTML page and a Markdown twin whose conclusions are computed from the "
                 "measurements. About a minute on 2 CPU cores with the defaults.",
                 examples=["seq2seq diagnose --out reports/gradient-flow.html",
                           "seq2seq diagnose --out reports/seed1.html --seed 1",
                           "seq2seq diagnose --out reports/t200.html --length 200 --steps 1000"])
    dg.add_argument("--out", required=True, help="HTML file to write (a Markdown twin goes beside it)")
    dg.add_argument("--length", type=int, default=100, metavar="T",
                    help="longest sequence length of the sweep (also the LSTM/GRU gate initialisation's horizon)")
    dg.add_argument("--steps", type=int, default=600,
                    help="training-step budget per cell and length (a run stops once it has learned)")
    dg.add_argument("--hidden", type=int, default=32, help="hidden units")
    dg.add_argument("--seed", type=int, default=0,
                    help="random seed: weights, batches, held-out set (default: %(default)s)")
    progress_arg(dg)


def _cmd_report(args) -> int:
    require_extra("report")
    from seq2seq.report import ReportOptions, write_report  # lazy: keeps start-up fast

    opts = ReportOptions(
        out=args.out, models=tuple(args.model), src=args.src, refs=tuple(args.ref), lowercase=args.lowercase,
        captions=args.captions, images=args.images, images_dir=args.images_dir, dataset=args.dataset,
        split=args.split, root=args.root, compare=args.compare, limit=args.limit, examples=args.examples,
        attention=args.attention, bootstrap=args.bootstrap, title=args.title, device=args.device, beam=args.beam,
        alpha=args.alpha, batch_size=args.batch_size, shortlist=args.shortlist, progress=args.progress,
        no_repeat_ngram=args.no_repeat_ngram, checkpoint=args.checkpoint, lm=args.lm, lm_weight=args.lm_weight,
        ensemble=args.ensemble)
    html, md = write_report(opts)
    print(f"wrote {html} and {md}")
    return 0


def _cmd_diagnose(args) -> int:
    require_extra("report")
    import torch  # lazy: keeps start-up fast

    from seq2seq.diagnose import Settings, check_writable, diagnose, write_diagnosis  # lazy: keeps start-up fast

    settings = Settings(length=args.length, steps=args.steps, hidden=args.hidden, seed=args.seed)
    check_writable(args.out)
    torch.set_num_threads(1)  # tiny recurrent nets: threads only add synchronisation
    result = diagnose(settings, progress=args.progress)
    html, md = write_diagnosis(result, args.out)
    print(f"wrote {html} and {md} ({result.seconds:.1f} s)")
    return 0
