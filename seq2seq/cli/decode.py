"""`seq2seq translate`, `evaluate` and `caption`: the shipped or trained models on the user's text and images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from seq2seq import UserError
from seq2seq.cli.common import command, decode_args, model_args, search_overrides


def register(sub) -> None:
    tr = command(sub, "translate", _cmd_translate,
                 help="translate TEXT arguments, or stdin lines (one output line each)",
                 description="Translate the sentences given as arguments, or else every line of stdin, writing "
                 "one line per input in order (an empty input line gives an empty line). Without --model, "
                 "--from/--to pick a shipped model (en->de by default).",
                 examples=['seq2seq translate "A dog runs through the grass."',
                           'seq2seq translate --from de --to en "Zwei Hunde spielen im Schnee."',
                           "seq2seq translate --model runs/my-model --beam 10 < input.en > output.de",
                           'seq2seq translate --nbest 3 --beam 5 "Two men are talking."'])
    tr.add_argument("text", nargs="*", help="sentences to translate; stdin lines when none")
    model_args(tr)
    decode_args(tr, "sentences")
    tr.add_argument("--nbest", type=int, help="print the n best as 'score<TAB>text', blank line between inputs")

    ev = command(sub, "evaluate", _cmd_evaluate,
                 help="translate a file and score it with sacreBLEU (BLEU, chrF, TER)",
                 description="Translate --src and score the translations against one or more --ref files with "
                 "sacreBLEU; every score is printed with its signature.",
                 examples=["seq2seq evaluate --src test.en --ref test.de",
                           "seq2seq evaluate --model runs/my-model --src test.en --ref test.de --lowercase --json",
                           "seq2seq evaluate --src test.en --ref ref1.de --ref ref2.de --output hyp.de"])
    model_args(ev)
    decode_args(ev, "sentences")
    ev.add_argument("--src", required=True, help="source file, one sentence per line")
    ev.add_argument("--ref", required=True, action="append", help="reference file (repeat for several)")
    ev.add_argument("--lowercase", "-lc", action="store_true", help="case-insensitive scores")
    ev.add_argument("--output", help="also write the translations here")
    ev.add_argument("--json", action="store_true", help="print scores as JSON")

    ca = command(sub, "caption", _cmd_caption, help="caption images (one line per image, in order)",
                 description="Caption image files with the shipped captioner or --model: one line per image, in "
                 "order. An image that cannot be read gets an empty line and an `error:` line on stderr, the "
                 "others are still captioned, and the exit code is 1.",
                 examples=["seq2seq caption photo1.jpg photo2.png", "seq2seq caption --beam 3 *.jpg"])
    ca.add_argument("images", nargs="+", help="image files")
    model_args(ca, task="caption")
    decode_args(ca, "images")


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _read_inputs(texts: list[str]) -> list[str]:
    if texts:
        return texts
    data = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _translator(args):
    from seq2seq.hub import resolve
    from seq2seq.translate import Translator

    model_dir = resolve(args.model, args.src_lang, args.tgt_lang)
    return Translator.load(model_dir, args.device, quantize=args.quantize, **search_overrides(args))


def _cmd_translate(args) -> int:
    translator = _translator(args)
    texts = _read_inputs(args.text)
    out = sys.stdout
    for res in translator.generate(texts, warn=_warn):
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
    hyps = [t.text for t in translator.generate(src, warn=_warn)]
    if args.output:
        Path(args.output).write_text("".join(h + "\n" for h in hyps))
    scores = corpus_scores(hyps, refs, lowercase=args.lowercase)
    if args.json:
        print(json.dumps(as_json(scores), indent=2))
    else:
        for s in scores.values():
            print(f"{s.detail}\n  signature: {s.signature}")
    return 0


def _cmd_caption(args) -> int:
    """Each image gets one line: its caption, or an empty line plus `error: FILE: why` on stderr (exit 1)."""
    from seq2seq.caption import Captioner
    from seq2seq.hub import resolve

    model_dir = resolve(args.model, task="caption")
    captioner = Captioner.load(model_dir, args.device, beam=args.beam, alpha=args.alpha,
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
