"""Back-translation data for the Multi30k translators (tagged back-translation, Caswell et al. 2019): Multi30k
task 2's independent descriptions of the training images in the TARGET language, translated into the source
language by the shipped reverse model, tagged, and added to the real task 1 pairs (up-sampled).

    nice python data/backtranslate.py --direction en-de          # German descriptions -> English with de->en
    nice python data/backtranslate.py --direction de-en          # English descriptions -> German with en->de
    nice python data/backtranslate.py --direction en-de --limit 20 --out /tmp/bt   # a quick check
    seq2seq train configs/multi30k-en-de-bt.yaml                 # then train on runs/bt-data/en-de/

Writes OUT/<direction>/: synthetic.{src,tgt} (the back-translations, appended as they are made: a rerun goes on
where the last one stopped), train.{src,tgt} (real pairs x --upsample + tagged synthetic pairs, named with the
languages) and valid.{src,tgt} (task 1 val, untagged). Validation and test sources are never tagged.

The tag: TAG ("==") before each synthetic source. The shipped sentencepiece model has no spare symbol, and adding
one would change it (and with it the vocabulary every shipped model, ensemble member and fusion LM shares), so the
tag is made of an existing piece: '=' is a single piece, in only 3 of the ~350k lines of Multi30k's task 1 and
task 2 text (typos inside words), and no real sentence begins with it; "== " encodes as ['▁', '=', '='] and so marks
synthetic sources unambiguously. ('@@' was the first choice, but two lines of task 1's train.de are exactly "@@".)
This script checks both (no <unk>, no real source starting with the tag) before it starts.

Leak guard: task 2's train descriptions describe Multi30k's training images (task2/image_splits/train_images.txt
is task1's train.txt); this script checks that none of those images is a val, test_2016 or test_2017 image, and
drops any description identical to a val or test sentence of either language (text a translator could otherwise
tune or be scored on). The Flickr8k guard of data/multi30k_mono.py concerns captioners and their LMs, not these
translators, which are tuned on Multi30k val and scored on its tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TAG = "=="
HELD_OUT = ("val", "test_2016_flickr", "test_2017_flickr")
REVERSE = {"en-de": "multi30k-de-en", "de-en": "multi30k-en-de"}


def read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def check_images(root: Path) -> int:
    """The number of task 2 training images; refuses if any is also a held-out (val/test) image."""
    splits = root / "task1" / "image_splits"
    train = set(read(root / "task2" / "image_splits" / "train_images.txt"))
    held = {name for s in HELD_OUT for name in read(splits / f"{s}.txt")}
    if train & held:
        raise SystemExit(f"leak guard: {len(train & held)} task 2 training images are val/test images")
    if train != set(read(splits / "train.txt")):
        raise SystemExit("leak guard: task 2's training images are not task 1's")
    return len(train)


def monolingual(root: Path, lang: str) -> tuple[list[str], dict]:
    """Task 2's training descriptions in `lang`, each distinct sentence once, without any sentence identical to a
    val/test sentence of either language; and the counts."""
    raw = root / "task1" / "raw"
    held = {line.strip() for s in HELD_OUT for lg in ("en", "de") for line in read(raw / f"{s}.{lg}")}
    lines = [line.strip() for k in range(1, 6) for line in read(root / "task2" / "raw" / f"train.{k}.{lang}")]
    kept, seen, dropped = [], set(), 0
    for line in lines:
        if not line or line in seen:
            continue
        seen.add(line)
        if line in held:
            dropped += 1
        else:
            kept.append(line)
    return kept, {"descriptions": len(lines), "distinct": len(seen), "dropped_heldout_text": dropped}


def check_tag(tok, sources: list[str]) -> list[str]:
    """The tag's pieces; refuses a tag the spm model cannot encode without <unk>, or one a real source starts with."""
    ids = tok.encode([TAG])[0]
    if 1 in ids:  # unk
        raise SystemExit(f"the tag {TAG!r} encodes with <unk> pieces: choose pieces the spm model has")
    starts = sum(s.startswith(TAG) for s in sources)
    if starts:
        raise SystemExit(f"{starts} real source sentences begin with the tag {TAG!r}: choose another")
    return tok.pieces(ids)


def back_translate(translator, mono: list[str], out: Path, beam: int, chunk: int = 512) -> list[str]:
    """Translations of `mono`, appended to `out` a chunk at a time (what a previous run wrote is kept)."""
    done = read(out) if out.is_file() else []
    if len(done) > len(mono):
        raise SystemExit(f"{out} has {len(done)} lines, more than the {len(mono)} sentences: remove it")
    with open(out, "a", encoding="utf-8") as f:
        for start in range(len(done), len(mono), chunk):
            hyps = translator.translate(mono[start : start + chunk], beam=beam)
            f.write("".join(h.replace("\n", " ") + "\n" for h in hyps))
            f.flush()
            done += hyps
            print(f"  {len(done):,} / {len(mono):,} back-translated", file=sys.stderr)
    return done


def main(argv: list[str] | None = None) -> None:
    import torch

    from seq2seq.translate import Translator

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--direction", required=True, choices=sorted(REVERSE), help="the translator to train")
    ap.add_argument("--model", help="the reverse model (default: the shipped one for the other direction)")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/multi30k")
    ap.add_argument("--out", type=Path, default=Path("runs/bt-data"))
    ap.add_argument("--upsample", type=int, default=2, help="copies of the real pairs in the training data")
    ap.add_argument("--limit", type=int, default=0, help="back-translate only the first N sentences (0: all)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    src, tgt = args.direction.split("-")
    out = args.out / args.direction
    out.mkdir(parents=True, exist_ok=True)
    n_images = check_images(args.root)
    mono, counts = monolingual(args.root, tgt)
    mono = mono[: args.limit] if args.limit else mono
    raw = args.root / "task1" / "raw"
    real_src, real_tgt = read(raw / f"train.{src}"), read(raw / f"train.{tgt}")
    translator = Translator.load(args.model or REVERSE[args.direction], args.device)
    if (translator.config.data.src_lang, translator.config.data.tgt_lang) != (tgt, src):
        raise SystemExit(f"--model translates {translator.config.data.src_lang}->{translator.config.data.tgt_lang}; "
                         f"back-translation for {src}->{tgt} needs {tgt}->{src}")
    pieces = check_tag(translator.tgt_tok, real_src + read(raw / f"val.{src}"))
    print(f"{n_images:,} task 2 training images, none a val/test image; {counts['descriptions']:,} {tgt} "
          f"descriptions, {counts['distinct']:,} distinct, {counts['dropped_heldout_text']:,} dropped (identical to "
          f"a val/test sentence); back-translating {len(mono):,} with {translator.model_dir} (beam {args.beam}); "
          f"tag {TAG!r} = {pieces}")
    synthetic = back_translate(translator, mono, out / f"synthetic.{src}", args.beam)
    write(out / f"synthetic.{tgt}", mono)
    write(out / f"train.{src}", real_src * args.upsample + [f"{TAG} {s}" for s in synthetic])
    write(out / f"train.{tgt}", real_tgt * args.upsample + mono)
    for lang in (src, tgt):
        write(out / f"valid.{lang}", read(raw / f"val.{lang}"))
    print(f"{out}/train.{{{src},{tgt}}}: {len(real_src):,} real pairs x {args.upsample} + {len(synthetic):,} tagged "
          f"synthetic pairs; valid.{{{src},{tgt}}}: task 1 val ({len(read(raw / f'val.{src}')):,}, untagged)")


if __name__ == "__main__":
    main()
