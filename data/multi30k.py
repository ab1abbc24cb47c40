"""Multi30k (WMT16-18 multimodal task 1) recipe: check a local copy, or download the public one.

    python data/multi30k.py                    # find the local copy (../shared/data/multi30k) and count lines
    python data/multi30k.py --download DIR     # fetch task1/raw/*.{en,de,fr,cs} from GitHub (needs network)

The configs in configs/multi30k-*.yaml read ../shared/data/multi30k/task1/raw/...; point them elsewhere with
`--set data.train_src=DIR/task1/raw/train.en ...` after a download.
"""

import argparse
import gzip
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seq2seq.data.corpus import MULTI30K_SPLITS, MULTI30K_URL, multi30k_root  # noqa: E402

LANGS = ("en", "de", "fr", "cs")


def download(out: Path) -> None:
    raw = out / "task1" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split in MULTI30K_SPLITS:
        for lang in LANGS:
            url = MULTI30K_URL.format(split=split, lang=lang)
            try:
                data = gzip.decompress(urllib.request.urlopen(url, timeout=60).read())
            except Exception as e:  # not every split exists in every language
                print(f"skip {split}.{lang}: {e}")
                continue
            (raw / f"{split}.{lang}").write_bytes(data)
            print(f"wrote {raw / f'{split}.{lang}'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="folder holding task1/raw")
    ap.add_argument("--download", metavar="DIR", help="download the public copy into DIR")
    args = ap.parse_args()
    if args.download:
        download(Path(args.download))
        args.root = args.download
    raw = multi30k_root(args.root) / "task1" / "raw"
    for f in sorted(raw.iterdir()):
        print(f"{f}: {sum(1 for _ in open(f, encoding='utf-8')):,} lines")


if __name__ == "__main__":
    main()
