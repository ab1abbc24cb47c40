"""data/backtranslate.py: the leak guard and the tag on the real Multi30k files (when ../shared/data is present),
and the recipe end to end on a few sentences with the shipped reverse model: tagged synthetic pairs after the
up-sampled real ones, untagged validation, and a rerun that goes on where the last one stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_DATA, load_script

ROOT = SHARED_DATA / "multi30k"
CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
pytestmark = pytest.mark.skipif(not (ROOT / "task2" / "raw").is_dir(), reason="needs ../shared/data/multi30k")


def _script():
    return load_script("data/backtranslate.py", "backtranslate")


def test_no_training_image_is_held_out_and_no_held_out_sentence_is_kept():
    bt = _script()
    assert bt.check_images(ROOT) == 29000
    raw = ROOT / "task1" / "raw"
    held = {line.strip() for s in bt.HELD_OUT for lg in ("en", "de") for line in bt.read(raw / f"{s}.{lg}")}
    test_images = {n for s in bt.HELD_OUT for n in bt.read(ROOT / "task1" / "image_splits" / f"{s}.txt")}
    assert not test_images & set(bt.read(ROOT / "task2" / "image_splits" / "train_images.txt"))
    for lang in ("en", "de"):
        kept, n = bt.monolingual(ROOT, lang)
        assert not held & set(kept) and len(kept) == len(set(kept)) == n["distinct"] - n["dropped_heldout_text"]
        assert n["descriptions"] == 145000 and n["dropped_heldout_text"] > 0  # the guard had something to do


def test_the_tag_is_existing_pieces_that_no_real_source_begins_with():
    from seq2seq.data.tokenizer import Tokenizer

    bt = _script()
    tok = Tokenizer(CHECKPOINTS / "multi30k-en-de" / "spm.model")
    raw = ROOT / "task1" / "raw"
    sources = [line for s in ("train", *bt.HELD_OUT) for lg in ("en", "de") for line in bt.read(raw / f"{s}.{lg}")]
    assert bt.check_tag(tok, sources) == ["▁", "=", "="]
    with pytest.raises(SystemExit, match="begin with the tag"):
        bt.check_tag(tok, ["== a real sentence"])


@pytest.mark.skipif(not (CHECKPOINTS / "multi30k-de-en" / "model.pt").is_file(), reason="needs the shipped model")
def test_recipe_end_to_end_on_a_few_sentences(tmp_path, capsys):
    bt = _script()
    bt.main(["--direction", "en-de", "--limit", "3", "--out", str(tmp_path), "--device", "cpu", "--beam", "2"])
    out = tmp_path / "en-de"
    real = len(bt.read(ROOT / "task1" / "raw" / "train.en"))
    src, tgt = bt.read(out / "train.en"), bt.read(out / "train.de")
    mono, _ = bt.monolingual(ROOT, "de")
    assert len(src) == len(tgt) == 2 * real + 3
    assert tgt[2 * real :] == mono[:3] and all(s.startswith("== ") and len(s) > 4 for s in src[2 * real :])
    assert not any(s.startswith("==") for s in src[: 2 * real])
    assert bt.read(out / "valid.en") == bt.read(ROOT / "task1" / "raw" / "val.en")
    first = bt.read(out / "synthetic.en")
    bt.main(["--direction", "en-de", "--limit", "5", "--out", str(tmp_path), "--device", "cpu", "--beam", "2"])
    again = bt.read(out / "synthetic.en")
    assert len(again) == 5 and again[:3] == first  # the first three were kept, not redone
    assert "none a val/test image" in capsys.readouterr().out
