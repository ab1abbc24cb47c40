"""`seq2seq translate`, `evaluate` and `caption`: the shipped or trained models on the user's text and images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from seq2seq.cli.common import (
    command,
    decode_args,
    lm_args,
    model_args,
    progress_arg,
    search_overrides,
)
from seq2seq.errors import UserError


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
    lm_args(tr)
    progress_arg(tr)
    tr.add_argument("--nbest", type=int, help="print the n best as 'score<TAB>text', blank line between inputs")

    ev = command(sub, "evaluate", _cmd_evaluate,
                 help="translate a file and score it with sacreBLEU (BLEU, chrF, TER), or transcribe and score WER",
                 description="Translate --src and score the translations against one or more --ref files with "
                 "sacreBLEU; every score is printed with its signature. With a speech model, --src lists audio "
                 "files (one per line, relative to its folder) and the transcripts are scored against --ref by "
                 "word and character error rates (jiwer, uppercase words).",
                 examples=["seq2seq evaluate --src test.en --ref test.de",
                           "seq2seq evaluate --model runs/my-model --src test.en --ref test.de --lowercase --json",
                           "seq2seq evaluate --src test.en --ref ref1.de --ref ref2.de --output hyp.de",
                           "seq2seq evaluate --model an4-en --src test.audio --ref test.words --ctc-weight 0.5"])
    model_args(ev)
    decode_args(ev, "sentences")
    lm_args(ev)
    progress_arg(ev)
    ev.add_argument("--src", required=True, help="source file, one sentence per line")
    ev.add_argument("--ref", required=True, action="append", help="reference file (repeat for several)")
    ev.add_argument("--lowercase", "-lc", action="store_true", help="case-insensitive scores")
    ev.add_argument("--output", help="also write the translations here")
    ev.add_argument("--json", action="store_true", help="print scores as JSON")
    ev.add_argument("--ctc-weight", type=float, metavar="W", help="speech models: 0 attention, 1 CTC, between "
                    "joint decoding (default: the model's config)")

    _files_command(sub, "caption", _cmd_caption, "images", "image files",
                   help="caption images (one line per image, in order)",
                   description="Caption image files with the shipped captioner or --model: one line per image, in "
                   "order. An image that cannot be read gets an empty line and an `error:` line on stderr, the "
                   "others are still captioned, and the exit code is 1.",
                   examples=["seq2seq caption photo1.jpg photo2.png", "seq2seq caption --beam 3 *.jpg",
                             "seq2seq caption --model runs/cap-a --model runs/cap-b photo.jpg"])
    _files_command(sub, "transcribe", _cmd_transcribe, "audio", "audio files (.wav, or Sphinx .mfc)",
                   help="transcribe speech (one line per audio file, in order)",
                   description="Transcribe audio files (wav of any sample rate, mono or stereo; or Sphinx .mfc "
                   "feature files) with the shipped speech model or --model: one line per file, in order. A file "
                   "that cannot be read gets an empty line and an `error:` line on stderr, the others are still "
                   "transcribed, and the exit code is 1.",
                   examples=["seq2seq transcribe utterance.wav", "seq2seq transcribe --ctc-weight 1 *.wav",
                             "seq2seq transcribe --model runs/an4-en --beam 10 a.mfc b.mfc"])


def _files_command(sub, name: str, func, files: str, files_help: str, **texts) -> None:
    """A subcommand that decodes files, one output line each (caption, transcribe): its files, model and search
    options."""
    p = command(sub, name, func, **texts)
    p.add_argument(files, nargs="+", help=files_help)
    model_args(p, task=name)
    decode_args(p, "images" if name == "caption" else "utterances")
    lm_args(p)
    progress_arg(p)

CHUNK_LINES = 1024  # stdin is translated in chunks of up to this many lines (fewer when the input pauses)


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def arguments(texts: list[str]) -> list[str]:
    """Command-line texts; bytes that were not UTF-8 arrive as lone surrogates (Python's surrogateescape)."""
    for i, t in enumerate(texts, 1):
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(f"argument {i} is not valid UTF-8 text") from None
    return texts


def _stdin_chunks(stream, max_lines: int = CHUNK_LINES, pause_s: float = 0.05):
    """Lists of input lines (newline and CR removed; bytes that are not UTF-8 become U+FFFD): up to `max_lines`
    each, or what has arrived when the input pauses for `pause_s`, so that a pipe gets its first outputs before
    the input ends. A reader thread and a bounded queue keep memory flat however long the input is."""
    import queue  # lazy: keeps start-up fast
    import threading

    lines: queue.Queue = queue.Queue(maxsize=2 * max_lines)

    def read() -> None:
        for raw in stream:
            lines.put(raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (line := lines.get()) is not None:
        chunk = [line]
        while len(chunk) < max_lines:
            try:
                line = lines.get(timeout=pause_s)
            except queue.Empty:
                break
            if line is None:
                yield chunk
                return
            chunk.append(line)
        yield chunk


def _translator(args):
    from seq2seq.hub import resolve  # lazy: keeps start-up fast
    from seq2seq.translate import Translator

    models = [resolve(m) for m in args.model] if args.model else [resolve(None, args.src_lang, args.tgt_lang)]
    return Translator.load(models, args.device, quantize=args.quantize, checkpoint=args.checkpoint,
                           ensemble=args.ensemble, **search_overrides(args))


def _write(out, res, nbest: int) -> None:
    if nbest > 1:  # n-best: "score<TAB>text" lines, a blank line after each input
        for text, score in res.nbest:
            out.write(f"{score:.4f}\t{text}\n")
        out.write("\n")
    else:
        out.write(res.text + "\n")


def _cmd_translate(args) -> int:
    """A filter: stdin is read, translated and written a chunk at a time (each chunk sorted by length inside)."""
    from seq2seq.progress import progress_bar  # lazy: keeps start-up fast

    translator = _translator(args)
    if not args.text and sys.stdin is None:
        raise UserError("standard input is closed: give the sentences as arguments, or pipe them in")
    chunks = [arguments(args.text)] if args.text else _stdin_chunks(sys.stdin.buffer)
    nbest = translator.search.nbest
    with progress_bar(len(args.text) or None, "translating", "sent", args.progress) as bar:
        for chunk in chunks:
            for res in translator.generate(chunk, warn=_warn, progress=bar.update):
                _write(sys.stdout, res, nbest)
            sys.stdout.flush()
    return 0


def _cmd_evaluate(args) -> int:
    from seq2seq.data.corpus import read_lines  # lazy: keeps start-up fast
    from seq2seq.hub import resolve
    from seq2seq.modeldir import model_task
    from seq2seq.metrics import as_json, bleu_tokenize, corpus_scores
    from seq2seq.progress import progress_bar

    src = read_lines(args.src)
    refs = [read_lines(r) for r in args.ref]
    for path, r in zip(args.ref, refs):
        if len(r) != len(src):
            raise UserError(f"{path} has {len(r)} lines but {args.src} has {len(src)}")
    output = _writable(args.output) if args.output else None  # checked before the decoding, not after
    if args.model and model_task(resolve(args.model[0])) == "transcribe":
        return _evaluate_speech(args, src, refs, output)
    translator = _translator(args)
    with progress_bar(len(src), "translating", "sent", args.progress) as bar:
        hyps = [t.text for t in translator.generate(src, warn=_warn, progress=bar.update)]
    if output:
        output.write_text("".join(h + "\n" for h in hyps))
    scores = corpus_scores(hyps, refs, lowercase=args.lowercase, tokenize=bleu_tokenize(translator.config.data.tgt_lang))
    if args.json:
        print(json.dumps(as_json(scores), indent=2))
    else:
        for s in scores.values():
            print(f"{s.detail}\n  signature: {s.signature}")
    return 0


def _evaluate_speech(args, listed: list[str], refs: list[list[str]], output: Path | None) -> int:
    """WER and CER of a speech model's transcripts of the audio files `listed` (relative to --src's folder)."""
    from seq2seq.hub import resolve  # lazy: keeps start-up fast
    from seq2seq.metrics import as_json, error_rates
    from seq2seq.progress import progress_bar
    from seq2seq.transcribe import Transcriber

    if len(refs) != 1:
        raise UserError("speech: give one --ref file of transcripts")
    base = Path(args.src).parent
    transcriber = Transcriber.load([resolve(m) for m in args.model], args.device, checkpoint=args.checkpoint,
                                   ensemble=args.ensemble, **search_overrides(args))
    with progress_bar(len(listed), "transcribing", "utt", args.progress) as bar:
        results = transcriber.transcribe_files([base / p for p in listed], progress=bar.update)
    bad = next((r for r in results if isinstance(r, UserError)), None)
    if bad is not None:
        raise UserError(str(bad))
    hyps = [r.text for r in results]
    if output:
        output.write_text("".join(h + "\n" for h in hyps))
    scores = error_rates(hyps, refs[0])
    if args.json:
        print(json.dumps(as_json(scores), indent=2))
    else:
        for s in scores.values():
            print(f"{s.detail}\n  signature: {s.signature}")
    return 0


def _writable(path: str) -> Path:
    """A file we can write: its folder exists and takes files, and it is not a folder itself."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"--output {path} is a folder, not a file")
    if not p.parent.is_dir():
        raise UserError(f"--output {path}: folder {p.parent} does not exist")
    try:
        with open(p, "a"):
            pass
    except OSError as e:
        raise UserError(f"--output {path}: cannot write there ({e.strerror})") from None
    return p


def _cmd_transcribe(args) -> int:
    """Each file gets one line: its words, or an empty line plus `error: FILE: why` on stderr (exit 1)."""
    from seq2seq.transcribe import Transcriber  # lazy: keeps start-up fast

    return _decode_files(Transcriber, args.audio, args, "transcribing", "utt")


def _cmd_caption(args) -> int:
    """Each image gets one line: its caption, or an empty line plus `error: FILE: why` on stderr (exit 1)."""
    from seq2seq.caption import Captioner  # lazy: keeps start-up fast

    return _decode_files(Captioner, args.images, args, "captioning", "img")


def _decode_files(api, files: list[str], args, doing: str, unit: str) -> int:
    """`api` (Captioner or Transcriber) over --model (default: the shipped model of its task) on `files`, one
    output line each, in order: the text, or an empty line and `error: ...` on stderr; exit 1 if any failed."""
    from seq2seq.hub import resolve  # lazy: keeps start-up fast
    from seq2seq.progress import progress_bar

    model_dirs = [resolve(m, task=api.task) for m in args.model] if args.model else [resolve(None, task=api.task)]
    model = api.load(model_dirs, args.device, checkpoint=args.checkpoint, ensemble=args.ensemble,
                     **search_overrides(args))
    with progress_bar(len(files), doing, unit, args.progress) as bar:
        results = model.decode_files(files, progress=bar.update)
    failed = 0
    for res in results:
        if isinstance(res, UserError):
            failed += 1
            print(f"error: {res}", file=sys.stderr)
            print("")
        else:
            print(res.text)
    sys.stdout.flush()
    return 1 if failed else 0
