"""AN4 (CMU Census database) recipe: check a local copy of its Sphinx features.

    python data/an4.py               # the local copy (../shared/data/an4, or $AN4): one line of counts, or the problems
    python data/an4.py --root DIR    # another copy (etc/ and feat/ as CMU ships them)

AN4 is 1,078 utterances of read US-English speech (spelled words, digits, short commands), recorded at CMU around
1991: 948 training utterances of 74 speakers and 130 test utterances of 10 others. The copy holds no audio, only
Sphinx cepstra: feat/an4_clstk/SPEAKER/ID.mfc (train) and feat/an4test_clstk/... (test), 13 coefficients per
10 ms; `seq2seq.data.audio.wav_features` computes the same features from a wav. Transcripts and file lists are in
etc/. The dev split (`an4_dev_split`) holds out whole training speakers, about 100 utterances.
Public source: the CMU AN4 database, http://www.speech.cs.cmu.edu/databases/an4/ (waveforms: an4_sphere.tar.gz);
this copy of the features: https://github.com/cphazen/Machine-Learning-Project-ASR (folder an4/). Licence:
CMU's BSD-style licence (LICENSE in the copy).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seq2seq.data.audio import (
    AN4_SPLITS,
    an4_dev_split,
    an4_root,
    an4_utterances,
    read_mfc,
    speaker,
)
from seq2seq.errors import UserError

EXPECTED = {"train": 948, "test": 130}  # utterances of the standard split


def check(root: Path) -> tuple[str, list[str]]:
    """(one-line summary, problems): counts per split, and every listed feature file present and readable."""
    problems, parts, utterances = [], [], {}
    for split in AN4_SPLITS:
        utterances[split] = utts = an4_utterances(root, split)
        if len(utts) != EXPECTED[split]:
            problems.append(f"{split}: {len(utts)} utterances listed, expected {EXPECTED[split]}")
        frames = 0
        for path, text in utts:
            try:
                frames += read_mfc(path).size(0)
            except UserError as e:
                problems.append(str(e))
            if not text:
                problems.append(f"{path}: empty transcript")
        speakers = len({speaker(p) for p, _ in utts})
        parts.append(f"{split} {len(utts):,} utterances ({speakers} speakers, {frames / 100 / 3600:.2f} h)")
    _, dev = an4_dev_split(utterances["train"])
    parts.append(f"dev split {len(dev)} utterances of {len({speaker(p) for p, _ in dev})} training speakers")
    n = sum(len(u) for u in utterances.values())
    state = f"all {n:,} feature files readable" if not problems else f"{len(problems)} problems"
    return f"AN4 at {root}: {', '.join(parts)}; {state}", problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="folder holding etc/ and feat/")
    args = ap.parse_args()
    try:
        summary, problems = check(an4_root(args.root))
    except UserError as e:
        sys.exit(f"error: {e}")
    for p in problems[:20]:
        print(p)
    print(summary)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
