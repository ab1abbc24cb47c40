"""Monolingual captions-domain text for language models: Multi30k task 2's five descriptions per training image
plus task 1's training side, one language, WITHOUT the text of any image in Flickr8k's val or test split.

    python data/multi30k_mono.py --lang en      # writes runs/lm-data/train.en and valid.en, prints what it dropped
    python data/multi30k_mono.py --lang en --captions --out runs/lm-data-captions   # for a captioner's LM

--captions writes the text as captioners are trained and scored (seq2seq.data.corpus.normalize_caption: lowercased,
punctuation dropped): an LM fused into the Flickr8k captioner must predict the same pieces it does.

Training text: task 2's train.{1..5} and task 1's train; validation: task 1's val (the translators' val sentences).

Leak guard: Flickr8k's images are a subset of Flickr30k, on which Multi30k is built (867 of Flickr8k's 1,000 val and
871 of its 1,000 test images are Multi30k training images). A language model a captioner may use must not have read
descriptions of the images the captioner is tuned and tested on. Both datasets name an image by its Flickr photo id:
Flickr8k by the part of the file name before the underscore, Multi30k by the part before `.jpg`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def photo_id(name: str) -> str:
    """'1000268201_693b08cb0e.jpg' (Flickr8k) or '1000268201.jpg' (Multi30k) -> '1000268201'."""
    return re.split(r"[_.]", name.strip(), maxsplit=1)[0]


def flickr8k_held_out(root: Path) -> set[str]:
    """The photo ids of Flickr8k's val (dev) and test images."""
    files = ("Flickr_8k.devImages.txt", "Flickr_8k.testImages.txt")
    return {photo_id(line) for f in files for line in (root / f).read_text().splitlines() if line.strip()}


def described(root: Path, split: str, lang: str, task2: bool = True) -> list[tuple[str, str]]:
    """(photo id, sentence) for every Multi30k description of the split's images in `lang`: task 1's, and with
    `task2` task 2's five. Line i of each file describes image i of task1/image_splits/<split>.txt."""
    ids = [photo_id(n) for n in (root / "task1" / "image_splits" / f"{split}.txt").read_text().splitlines()]
    files = [root / "task1" / "raw" / f"{split}.{lang}"]
    files += [root / "task2" / "raw" / f"{split}.{k}.{lang}" for k in range(1, 6) if task2]
    pairs = []
    for f in files:
        lines = f.read_text(encoding="utf-8").splitlines()
        if len(lines) != len(ids):
            raise SystemExit(f"{f}: {len(lines)} lines, but {len(ids)} images in the split")
        pairs += zip(ids, lines)
    return pairs


def monolingual(root: Path, flickr8k: Path, split: str, lang: str, task2: bool = True) -> tuple[list[str], dict]:
    """The split's sentences without those of Flickr8k val/test images and without repeats of the same sentence
    for the same image; and counts of what was dropped."""
    held_out = flickr8k_held_out(flickr8k)
    pairs = described(root, split, lang, task2)
    seen, kept = set(), []
    for pid, text in pairs:
        if pid not in held_out and text.strip() and (pid, text) not in seen:
            seen.add((pid, text))
            kept.append(text)
    leaked = [p for p in pairs if p[0] in held_out]
    return kept, {"sentences": len(pairs), "kept": len(kept), "dropped_leak": len(leaked),
                  "images_dropped": len({p for p, _ in leaked}), "dropped_repeats": len(pairs) - len(kept) - len(leaked)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lang", default="en", choices=("en", "de"))
    ap.add_argument("--multi30k", type=Path, default=SHARED / "multi30k")
    ap.add_argument("--flickr8k", type=Path, default=SHARED / "flickr8k")
    ap.add_argument("--out", type=Path, default=Path("runs/lm-data"))
    ap.add_argument("--captions", action="store_true", help="lowercase, drop punctuation (a captioner's LM)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for split, name in (("train", "train"), ("val", "valid")):
        kept, n = monolingual(args.multi30k, args.flickr8k, split, args.lang, task2=split == "train")
        if args.captions:
            from seq2seq.data.corpus import normalize_caption

            # Flickr8k's captions come tokenized ("a dog ."), Multi30k's not ("a dog."): punctuation goes first
            kept = [c for c in (normalize_caption(re.sub(r"[^\w\s']", " ", t)) for t in kept) if c]
        path = args.out / f"{name}.{args.lang}"
        path.write_text("".join(t + "\n" for t in kept), encoding="utf-8")
        print(f"{path}: {n['kept']:,} of {n['sentences']:,} sentences; dropped {n['dropped_leak']:,} describing "
              f"{n['images_dropped']:,} Flickr8k val/test images, {n['dropped_repeats']:,} repeats")


if __name__ == "__main__":
    main()
