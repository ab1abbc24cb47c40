"""Command line: thin wrappers over the package. Bad input gives one `error:` line and exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seq2seq import UserError, __version__


def _cmd_train(args) -> int:
    from seq2seq.config import load_config
    from seq2seq.trainer import Trainer

    cfg = load_config(args.config, args.set)
    trainer = Trainer(cfg, resume=args.resume)
    summary = trainer.train()
    print(json.dumps(summary))
    return 0


def _read_inputs(texts: list[str]) -> list[str]:
    if texts:
        return texts
    data = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _search_overrides(args) -> dict:
    return {"beam": args.beam, "nbest": getattr(args, "nbest", None), "alpha": args.alpha,
            "batch_size": args.batch_size, "shortlist": getattr(args, "shortlist", None)}


def _translator(args):
    from seq2seq.hub import resolve
    from seq2seq.translate import Translator

    model_dir = resolve(args.model, args.src_lang, args.tgt_lang)
    return Translator.from_dir(model_dir, args.device, quantize=args.quantize, **_search_overrides(args))


def _cmd_translate(args) -> int:
    translator = _translator(args)
    texts = _read_inputs(args.text)
    out = sys.stdout
    for res in translator.translate(texts):
        if translator.search.nbest > 1:  # n-best: "score<TAB>text" lines, a blank line after each input
            for text, score in res.nbest:
                out.write(f"{score:.4f}\t{text}\n")
            out.write("\n")
        else:
            out.write(res.text + "\n")
    out.flush()
    return 0


def _cmd_evaluate(args) -> int:
    from seq2seq.corpus import read_lines
    from seq2seq.metrics import as_json, corpus_scores

    src = read_lines(args.src)
    refs = [read_lines(r) for r in args.ref]
    for path, r in zip(args.ref, refs):
        if len(r) != len(src):
            raise UserError(f"{path} has {len(r)} lines but {args.src} has {len(src)}")
    translator = _translator(args)
    hyps = [t.text for t in translator.translate(src)]
    if args.output:
        Path(args.output).write_text("".join(h + "\n" for h in hyps))
    scores = corpus_scores(hyps, refs, lowercase=args.lowercase)
    if args.json:
        print(json.dumps(as_json(scores), indent=2))
    else:
        for s in scores.values():
            print(f"{s.detail}\n  signature: {s.signature}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seq2seq", description="Recurrent encoder-decoder models: translation and "
                                "image captioning.")
    p.add_argument("--version", action="version", version=f"seq2seq {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model from a YAML recipe")
    t.add_argument("config", help="YAML config (see configs/)")
    t.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set model.cell=gru train.lr=0.0005")
    t.add_argument("--resume", action="store_true", help="continue the run in model_dir from last.pt")
    t.set_defaults(func=_cmd_train)

    def search_args(q):
        q.add_argument("--model", help="model directory or shipped model name (see `seq2seq models`); "
                       "default: the shipped model for --from/--to (en->de)")
        q.add_argument("--from", dest="src_lang", help="source language of the shipped model to use")
        q.add_argument("--to", dest="tgt_lang", help="target language of the shipped model to use")
        q.add_argument("--quantize", action="store_true", help="int8 dynamic quantization (CPU)")
        shortlist_arg(q)
        decode_args(q, "sentences")

    def shortlist_arg(q):
        q.add_argument("--no-shortlist", dest="shortlist", action="store_const", const=False,
                       help="translation: score the whole target vocabulary, not the model's lexical shortlist")

    def decode_args(q, items: str):
        q.add_argument("--beam", type=int, help="beam size (1 = greedy); default: the model's config")
        q.add_argument("--alpha", type=float, help="length normalisation strength")
        q.add_argument("--batch-size", type=int, help=f"{items} per batch")
        q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))

    tr = sub.add_parser("translate", help="translate TEXT arguments, or stdin lines (one output line each)")
    tr.add_argument("text", nargs="*", help="sentences to translate; stdin lines when none")
    search_args(tr)
    tr.add_argument("--nbest", type=int, help="print the n best as 'score<TAB>text', blank line between inputs")
    tr.set_defaults(func=_cmd_translate)

    ev = sub.add_parser("evaluate", help="translate a file and score it with sacreBLEU (BLEU, chrF, TER)")
    search_args(ev)
    ev.add_argument("--src", required=True, help="source file, one sentence per line")
    ev.add_argument("--ref", required=True, action="append", help="reference file (repeat for several)")
    ev.add_argument("--lowercase", "-lc", action="store_true", help="case-insensitive scores")
    ev.add_argument("--output", help="also write the translations here")
    ev.add_argument("--json", action="store_true", help="print scores as JSON")
    ev.set_defaults(func=_cmd_evaluate)

    ca = sub.add_parser("caption", help="caption images (one line per image, in order)")
    ca.add_argument("images", nargs="+", help="image files")
    ca.add_argument("--model", help="captioning model directory or shipped name (default: the shipped one)")
    decode_args(ca, "images")
    ca.set_defaults(func=_cmd_caption)

    sv = sub.add_parser("serve", help="HTTP API and web page (FastAPI + uvicorn)")
    sv.add_argument("--model", nargs="+", default=[], help="model folders or shipped names (default: all shipped)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    sv.add_argument("--quantize", action="store_true", help="int8 dynamic quantization (CPU)")
    sv.add_argument("--no-batching", action="store_true", help="translate each request on its own")
    sv.add_argument("--window-ms", type=float, default=5.0, help="micro-batching collection window")
    sv.add_argument("--max-batch", type=int, default=64, help="most sentences in one micro-batch")
    sv.set_defaults(func=_cmd_serve)

    ms = sub.add_parser("models", help="list the shipped models")
    ms.set_defaults(func=_cmd_models)

    ex = sub.add_parser("export", help="write a compact model folder (fp16 weights, optionally averaged)")
    ex.add_argument("--model", required=True, help="trained model directory")
    ex.add_argument("--out", required=True, help="folder to write (e.g. checkpoints/NAME)")
    ex.add_argument("--average", type=int, default=0, metavar="N",
                    help="average the last N step checkpoints instead of taking best.pt")
    ex.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16)")
    ex.set_defaults(func=_cmd_export)

    sl = sub.add_parser("shortlist", help="(re)build a translation model's lexical shortlist (IBM Model 1)",
                        description="Train p(target piece | source piece) with IBM Model 1 on parallel text and "
                        "write MODEL/shortlist.pt: decoding then scores only each batch's likely target pieces.")
    sl.add_argument("--model", required=True, help="model directory or shipped model name")
    sl.add_argument("--src", help="source side of the parallel text (default: the model's training data)")
    sl.add_argument("--tgt", help="target side (default: the model's training data)")
    sl.add_argument("--top", type=int, default=None, help="targets kept per source piece (default: 30)")
    sl.add_argument("--frequent", type=int, default=None, help="most frequent target pieces always kept (default: 300)")
    sl.set_defaults(func=_cmd_shortlist)

    rp = sub.add_parser("report", help="evaluation report: one self-contained HTML file plus a Markdown twin",
                        description="Decode a test set and write an HTML report (scores with sacreBLEU signatures "
                        "and bootstrap CIs, length analysis, training curves, best/worst examples, attention, "
                        "model card) and OUT with .md beside it. Translation: --src/--ref. Captioning: "
                        "--captions TSV [--images LIST] or --dataset flickr8k.")
    rp.add_argument("--model", help="model directory or shipped model name (default: the shipped one)")
    rp.add_argument("--out", required=True, help="HTML file to write; the Markdown twin gets the .md suffix")
    rp.add_argument("--src", help="translation: source file, one sentence per line")
    rp.add_argument("--ref", action="append", default=[], help="translation: reference file (repeat for several)")
    rp.add_argument("--lowercase", "-lc", action="store_true", help="translation: case-insensitive scores")
    rp.add_argument("--images", help="captioning: file listing image paths, one per line (default: all in --captions)")
    rp.add_argument("--captions", help="captioning: TSV of image<TAB>caption lines (several per image allowed)")
    rp.add_argument("--images-dir", help="captioning: folder the TSV's image names are relative to (default: its own)")
    rp.add_argument("--dataset", choices=("flickr8k",), help="captioning: a known dataset instead of --captions")
    rp.add_argument("--split", default="test", help="--dataset split (default: test)")
    rp.add_argument("--root", help="--dataset folder (default: ../shared/data/<dataset>)")
    rp.add_argument("--compare", metavar="MODEL_OR_HYPS",
                    help="baseline for paired bootstrap significance: a model directory/name or a hypothesis file")
    rp.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N sentences/images")
    rp.add_argument("--examples", type=int, default=5, metavar="N", help="best and worst examples to show (5)")
    rp.add_argument("--attention", type=int, default=3, metavar="N", help="attention plots to draw (3)")
    rp.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (1000)")
    rp.add_argument("--title", help="report title")
    decode_args(rp, "sentences/images")
    shortlist_arg(rp)
    rp.set_defaults(func=_cmd_report)

    dg = sub.add_parser("diagnose", help="gradient-flow diagnostic (Elman RNN vs LSTM vs GRU) as an HTML page")
    dg.add_argument("--out", required=True, help="HTML file to write (a Markdown twin goes beside it)")
    dg.add_argument("--steps", type=int, default=250, help="training steps per cell (default 250; 0 = only init)")
    dg.add_argument("--length", type=int, default=100, metavar="T", help="sequence length (default 100)")
    dg.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    dg.add_argument("--seed", type=int, default=0)
    dg.set_defaults(func=_cmd_diagnose)
    return p


def _cmd_caption(args) -> int:
    """Each image gets one line: its caption, or an empty line plus `error: FILE: why` on stderr (exit 1)."""
    from seq2seq.caption import Captioner
    from seq2seq.hub import resolve

    model_dir = resolve(args.model, task="caption")
    captioner = Captioner.from_dir(model_dir, args.device, beam=args.beam, alpha=args.alpha,
                                   batch_size=args.batch_size)
    failed = 0
    for path, res in zip(args.images, captioner.caption_files(args.images)):
        if isinstance(res, UserError):
            failed += 1
            print(f"error: {res}", file=sys.stderr)
            print("")
        else:
            print(res.text)
    sys.stdout.flush()
    return 1 if failed else 0


def _cmd_serve(args) -> int:
    from seq2seq.hub import resolve, shipped
    from seq2seq.translate import Translator

    from seq2seq.caption import Captioner
    from seq2seq.config import load_config

    names = args.model or list(shipped())
    if not names:
        raise UserError("no shipped models to serve; give --model DIR")
    translators, captioners = {}, {}
    for n in names:
        path = resolve(n)
        if load_config(path / "config.yaml").model.encoder == "image":
            captioners[path.name] = Captioner.from_dir(path, args.device)
        else:
            translators[path.name] = Translator.from_dir(path, args.device, quantize=args.quantize)
    try:  # the default direction (en->de) first: the app's default model is the first one
        default = resolve(None).name
        translators = dict(sorted(translators.items(), key=lambda kv: kv[0] != default))
    except UserError:
        pass
    import uvicorn

    from serve.app import create_app

    app = create_app(translators, captioners, batching=not args.no_batching, window_ms=args.window_ms,
                     max_batch=args.max_batch)
    print(f"serving {', '.join([*translators, *captioners])} on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_models(args) -> int:
    from seq2seq.hub import checkpoints_dir, shipped

    models = shipped()
    if not models:
        print(f"no shipped models in {checkpoints_dir()}")
        return 0
    for name, m in models.items():
        pair = f"{m['src_lang']}->{m['tgt_lang']}" if m["task"] == "translate" else "image->" + str(m["tgt_lang"])
        print(f"{name:24s} {m['task']:9s} {pair:10s} {m['summary']}")
    return 0


def _cmd_export(args) -> int:
    from seq2seq.checkpoint import export

    out = export(Path(args.model), Path(args.out), average_last=args.average, fp16=not args.fp32)
    print(f"wrote {out}")
    return 0


def _cmd_shortlist(args) -> int:
    from seq2seq.config import load_config
    from seq2seq.corpus import load_pairs
    from seq2seq.hub import resolve
    from seq2seq.shortlist import FREQUENT, TOP, build

    model_dir = resolve(args.model, None, None)
    cfg = load_config(model_dir / "config.yaml")
    if cfg.model.encoder == "image":
        raise UserError(f"{model_dir} is a captioning model; shortlists are for translation")
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


def _cmd_report(args) -> int:
    from seq2seq.report import write_report

    html, md = write_report(args)
    print(f"wrote {html} and {md}")
    return 0


def _cmd_diagnose(args) -> int:
    import torch

    from seq2seq.diagnose import gradient_flow, write_gradient_flow

    torch.set_num_threads(1)  # tiny recurrent nets: threads only add synchronisation
    gf = gradient_flow(length=args.length, steps=args.steps, hidden=args.hidden, seed=args.seed)
    html, md = write_gradient_flow(gf, args.out)
    print(f"wrote {html} and {md} ({gf.seconds:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
