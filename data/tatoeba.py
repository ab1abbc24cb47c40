"""Tatoeba English-Mandarin recipe: check the local copy, or build the same kind of splits from the public file.

    python data/tatoeba.py                       # the local copy (../shared/data/tatoeba-cmn-eng): lines per split
    python data/tatoeba.py --download DIR        # fetch manythings.org's cmn-eng.zip and split it into DIR

The shipped tatoeba-* models were trained and scored on the local copy's splits (train 25,654 / dev 1,000 /
test 1,000 pairs, made from the 2022-05-02 file). The download makes splits by the same rule from whatever file
manythings.org serves now: pairs that share a sentence (by Tatoeba id or by identical text) are kept in one
split, and whole groups are drawn for dev and test by a seeded shuffle, so no sentence of dev or test is in train.
Text is left as it is: the tokenizer normalizes Chinese (seq2seq/data/textnorm.py) for training and for input.
Licence: CC-BY 2.0 France; cmn.txt keeps each pair's attribution.
"""

import argparse
import io
import random
import re
import sys
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = "https://www.manythings.org/anki/cmn-eng.zip"
LOCAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tatoeba-cmn-eng"
IDS = re.compile(r"#(\d+)")


def read_pairs(cmn: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """(English, Chinese, Tatoeba ids) of each line of cmn.txt."""
    out = []
    for line in cmn.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 2:
            out.append((cols[0].strip(), cols[1].strip(), tuple(IDS.findall(cols[2]) if len(cols) > 2 else ())))
    return out


def groups(pairs) -> list[list[int]]:
    """Pairs linked by a shared id or an identical sentence (union-find): each group goes to one split."""
    parent = list(range(len(pairs)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for i, (en, zh, ids) in enumerate(pairs):
        for key in (f"en:{en}", f"zh:{zh}", *(f"id:{x}" for x in ids)):
            if key in seen:
                parent[find(i)] = find(seen[key])
            else:
                seen[key] = i
    out: dict[int, list[int]] = {}
    for i in range(len(pairs)):
        out.setdefault(find(i), []).append(i)
    return list(out.values())


def split(pairs, n_dev: int = 1000, n_test: int = 1000, seed: int = 1) -> dict[str, list[int]]:
    """Whole groups, in a seeded order, fill test then dev; the rest is train (in file order)."""
    order = groups(pairs)
    random.Random(seed).shuffle(order)
    parts = {"test": [], "dev": [], "train": []}
    for g in order:
        name = "test" if len(parts["test"]) < n_test else "dev" if len(parts["dev"]) < n_dev else "train"
        parts[name] += g
    return {k: sorted(v) for k, v in parts.items()}


def download(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    req = urllib.request.Request(URL, headers={"User-Agent": "seq2seq-data-recipe"})
    with zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(req, timeout=120).read())) as z:
        (out / "cmn.txt").write_bytes(z.read("cmn.txt"))
    pairs = read_pairs(out / "cmn.txt")
    for name, idx in split(pairs).items():
        for k, lang in ((0, "en"), (1, "zh")):
            (out / f"{name}.{lang}").write_text("".join(pairs[i][k] + "\n" for i in idx), encoding="utf-8")
        print(f"{name}: {len(idx):,} pairs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(LOCAL), help="folder holding {train,dev,test}.{en,zh}")
    ap.add_argument("--download", metavar="DIR", help="download the public file and split it into DIR")
    args = ap.parse_args()
    if args.download:
        download(Path(args.download))
        args.root = args.download
    for f in sorted(p for p in Path(args.root).glob("*.*") if p.name.split(".")[0] in ("train", "dev", "test")):
        print(f"{f}: {sum(1 for _ in open(f, encoding='utf-8')):,} lines")


if __name__ == "__main__":
    main()
