"""Write the digit-reversal toy task (aligned .src/.tgt files) used by the example config and the demo.

    python data/make_reverse.py runs/data
"""

import random
import sys
from pathlib import Path


def main(out: str = "runs/data", n_train: int = 4000, n_valid: int = 200, seed: int = 0) -> None:
    r = random.Random(seed)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("valid", n_valid)):
        src = [" ".join(r.choice("0123456789") for _ in range(r.randint(3, 12))) for _ in range(n)]
        (folder / f"reverse.{split}.src").write_text("".join(s + "\n" for s in src))
        (folder / f"reverse.{split}.tgt").write_text("".join(" ".join(s.split()[::-1]) + "\n" for s in src))


if __name__ == "__main__":
    main(*sys.argv[1:2])
