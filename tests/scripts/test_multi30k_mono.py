"""Leak guard of the language models' text (data/multi30k_mono.py), on the real files when ../shared/data is here:
nothing written describes an image of Flickr8k's val or test split."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA, load_script

SCRIPT = Path(__file__).resolve().parents[2] / "data" / "multi30k_mono.py"
mono = load_script("data/multi30k_mono.py", "multi30k_mono")

M30K, F8K = SHARED_DATA / "multi30k", SHARED_DATA / "flickr8k"
needs_data = pytest.mark.skipif(not (M30K / "task2" / "raw").is_dir() or not (F8K / "Flickr8k.token.txt").is_file(),
                                reason="needs ../shared/data (Multi30k task 1/2 and Flickr8k)")


def test_photo_ids_of_both_datasets():
    assert mono.photo_id("1000268201_693b08cb0e.jpg") == mono.photo_id("1000268201.jpg") == "1000268201"


def _norm(text: str) -> str:  # Flickr8k's references are tokenized ("way ."), Multi30k's are not
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


@needs_data
@pytest.mark.parametrize("lang", ["en", "de"])
def test_written_text_describes_no_flickr8k_val_or_test_image(tmp_path, lang):
    out = subprocess.run([sys.executable, str(SCRIPT), "--lang", lang, "--out", str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout
    held = mono.flickr8k_held_out(F8K)
    for split, name, task2 in (("train", "train", True), ("val", "valid", False)):
        pairs = mono.described(M30K, split, lang, task2)
        allowed = {t for p, t in pairs if p not in held}  # sentences that describe some other image
        written = (tmp_path / f"{name}.{lang}").read_text(encoding="utf-8").splitlines()
        assert written and set(written) <= allowed
        if split == "train":  # MANIFEST.md: 867 val + 871 test images of Flickr8k are Multi30k training images
            assert len({p for p, _ in pairs if p in held}) == 867 + 871
            assert "describing 1,738 Flickr8k val/test images" in out
    if lang == "en":  # the Flickr8k test references that were Multi30k descriptions word for word are gone
        test = {mono.photo_id(n) for n in (F8K / "Flickr_8k.testImages.txt").read_text().split()}
        refs = [_norm(line.split("\t", 1)[1]) for line in (F8K / "Flickr8k.token.txt").read_text().splitlines()
                if mono.photo_id(line.split("#")[0]) in test]
        before = {_norm(t) for p, t in mono.described(M30K, "train", "en")}
        after = {_norm(t) for t in (tmp_path / "train.en").read_text(encoding="utf-8").splitlines()}
        assert sum(r in before for r in refs) >= 3894
        assert sum(r in after for r in refs) < 0.02 * len(refs)  # generic sentences that also describe other images


@needs_data
def test_captions_form_is_the_captioners_and_keeps_the_guard(tmp_path):
    """--captions: the same sentences (and so the same leak guard), lowercased, punctuation gone, as a captioner's
    training text is (normalize_caption after Flickr8k's tokenized punctuation)."""
    run = lambda out, *flags: subprocess.run([sys.executable, str(SCRIPT), "--lang", "en", "--out", str(out), *flags],
                                             capture_output=True, text=True, check=True)
    run(tmp_path / "plain")
    run(tmp_path / "captions", "--captions")
    for name in ("train.en", "valid.en"):
        plain = (tmp_path / "plain" / name).read_text(encoding="utf-8").splitlines()
        caps = (tmp_path / "captions" / name).read_text(encoding="utf-8").splitlines()
        assert len(caps) == len(plain)
        words = lambda p: [w for w in re.sub(r"[^\w\s']", " ", p.lower()).split() if any(ch.isalnum() for ch in w)]
        assert all(c.split() == words(p) for p, c in zip(plain, caps))
        assert not any(re.search(r"[A-Z.,!?;:\"]", c) for c in caps)
