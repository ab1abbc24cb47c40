"""`seq2seq train`, `export` and `shortlist`: make a model directory, a shippable copy of it, and its shortlist."""

from __future__ import annotations

import json
from pathlib import Path

from seq2seq.cli.common import command
from seq2seq.errors import UserError


def register(sub) -> None:
    t = command(sub, "train", _cmd_train, help="train a model from a YAML recipe",
                description="Train a translation or captioning model from a YAML recipe into its model_dir "
                "(config.yaml, tokenizer, best.pt, last.pt, step-N.pt, log.jsonl). best.pt is picked by "
                "train.valid_metric (auto: BLEU, or exact match when most validation references are shorter than "
                "4 tokens; CIDEr-D under train.objective=scst, self-critical fine-tuning of a captioner). Any config value can be overridden with --set; --resume continues exactly where "
                "last.pt stopped. Ctrl-C or SIGTERM stops after the step in progress and saves last.pt; one "
                "trainer at a time per model_dir (train.lock). `torchrun --nproc_per_node N -m seq2seq train ...` "
                "trains data-parallel (one process per GPU, or several on a CPU); train.accum_steps sums several "
                "batches per update.",
                examples=["seq2seq train configs/example-reverse.yaml",
                          "seq2seq train configs/example-reverse.yaml --set train.valid_metric=exact",
                          "seq2seq train configs/multi30k-en-de.yaml --set model.cell=gru train.lr=5e-4",
                          "seq2seq train configs/multi30k-en-de.yaml --resume",
                          "seq2seq train configs/multi30k-en-de.yaml --set train.accum_steps=4",
                          "seq2seq train configs/flickr8k-en-scst.yaml"])
    t.add_argument("config", help="YAML config (see configs/)")
    t.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set model.cell=gru train.lr=0.0005")
    t.add_argument("--resume", action="store_true", help="continue the run in model_dir from last.pt")

    ex = command(sub, "export", _cmd_export, help="write a compact model folder (fp16 weights, optionally averaged)",
                 description="Copy a trained model directory's config, tokenizer(s), shortlist and training log "
                 "into a new folder with one model.pt: best.pt's weights, or the average of the last N step "
                 "checkpoints, in float16 unless --fp32. --set changes the copy's decoding defaults (search.*), "
                 "e.g. the beam chosen on validation or the members of a default ensemble.",
                 examples=["seq2seq export --model runs/multi30k-en-de --out checkpoints/multi30k-en-de",
                           "seq2seq export --model runs/multi30k-en-de --out exported --average 5",
                           "seq2seq export --model runs/en-de-3 --out checkpoints/multi30k-en-de --set search.beam=3 "
                           "'search.ensemble=[multi30k-en-de-v2]'"])
    ex.add_argument("--model", required=True, help="trained model directory")
    ex.add_argument("--out", required=True, help="folder to write (e.g. checkpoints/NAME)")
    ex.add_argument("--average", type=int, default=0, metavar="N",
                    help="average the last N step checkpoints instead of taking best.pt (0: best.pt)")
    ex.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16)")
    ex.add_argument("--set", nargs="+", default=[], metavar="search.KEY=VALUE",
                    help="decoding defaults of the copy, e.g. --set search.alpha=1.0 'search.ensemble=[other-model]'")

    sl = command(sub, "shortlist", _cmd_shortlist,
                 help="(re)build a translation model's lexical shortlist (IBM Model 1)",
                 description="Train p(target piece | source piece) with IBM Model 1 on parallel text and write "
                 "MODEL/shortlist.pt: decoding then scores only each batch's likely target pieces.",
                 examples=["seq2seq shortlist --model runs/multi30k-en-de",
                           "seq2seq shortlist --model runs/my-model --src train.en --tgt train.de --top 50"])
    sl.add_argument("--model", required=True, help="model directory or shipped model name")
    sl.add_argument("--src", help="source side of the parallel text (default: the model's training data)")
    sl.add_argument("--tgt", help="target side (default: the model's training data)")
    sl.add_argument("--top", type=int, default=None, help="targets kept per source piece (default: 30)")
    sl.add_argument("--frequent", type=int, default=None,
                    help="most frequent target pieces always kept (default: 300)")


def _cmd_train(args) -> int:
    from seq2seq.config import load_config  # lazy: keeps start-up fast

    return run_training(load_config(args.config, args.set), args.resume)


def run_training(cfg, resume: bool) -> int:
    """Train `cfg` (any task), print the summary as JSON; the exit code."""
    from seq2seq.train.rundir import Interrupted  # lazy: keeps start-up fast
    from seq2seq.train.trainer import Trainer

    try:
        trainer = Trainer(cfg, resume=resume)
    except UserError as e:
        if cfg.data.make and str(e).startswith("file not found"):
            raise UserError(f"{e}; this recipe's data is made by `{cfg.data.make}`") from None
        raise
    try:
        summary = trainer.train()
    except Interrupted as e:  # last.pt is saved and the trainer said so; exit as the signal asks (130, 143)
        return 128 + e.signum
    if trainer.dist.main:  # under torchrun, rank 0 speaks for the run
        print(json.dumps(summary))
    return 0


def _cmd_export(args) -> int:
    from seq2seq.train.export import export  # lazy: keeps start-up fast

    out = export(Path(args.model), Path(args.out), average_last=args.average, fp16=not args.fp32, search=args.set)
    print(f"wrote {out}")
    return 0


def _cmd_shortlist(args) -> int:
    from seq2seq.data.corpus import load_pairs  # lazy: keeps start-up fast
    from seq2seq.decode.shortlist import FREQUENT, TOP, build
    from seq2seq.hub import resolve
    from seq2seq.modeldir import read_config

    model_dir = resolve(args.model, None, None)
    cfg = read_config(model_dir)
    if cfg.task != "translate":
        raise UserError(f"{model_dir} is a {'captioning' if cfg.task == 'caption' else 'language'} model; "
                        f"shortlists are for translation")
    if bool(args.src) != bool(args.tgt):
        raise UserError("give both --src and --tgt, or neither (the model's training data)")
    d = cfg.data
    src, tgt = load_pairs(args.src, args.tgt) if args.src else load_pairs(d.train_src, d.train_tgt, d.train,
                                                                          d.src_lang, d.tgt_lang)
    top = TOP if args.top is None else args.top
    frequent = FREQUENT if args.frequent is None else args.frequent
    print(f"wrote {build(model_dir, src, tgt, top, frequent)} ({len(src):,} pairs; top {top} per source piece, "
          f"{frequent} frequent)")
    return 0
