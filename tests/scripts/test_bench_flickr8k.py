"""bench/flickr8k_eval.py end to end on a tiny shapes captioner and a Flickr8k-shaped folder of generated images:
one row per combination of settings, labelled with them, and the equalities that must hold (each row scores what
Captioner.generate's captions score; an ensemble of a model with itself scores as the model; fusion weight 0 is
no fusion); the command line is printed under the table."""

from __future__ import annotations

import random
import re

import pytest
from conftest import lm_config

from conftest import caption_config, draw, load_script, shapes_dataset, write_lines
from seq2seq.train.trainer import Trainer


def _bench():
    return load_script("bench/flickr8k_eval.py", "bench_flickr8k_eval")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A captioner of the shapes task, an LM on its sentencepiece model, and a Flickr8k-shaped folder: 6 val and 6
    test images with 5 captions each."""
    tmp = tmp_path_factory.mktemp("bench8k")
    files = shapes_dataset(tmp / "data", n_train=60, n_valid=6)
    cfg = caption_config(tmp, files, max_steps=60, valid_every=60, log_every=60)
    Trainer(cfg, progress=False).train()
    lm = lm_config(tmp / "lm", spm_model=f"{cfg.model_dir}/spm.model", train={"max_steps": 5, "valid_every": 5})
    Trainer(lm, progress=False).train()
    root = tmp / "flickr8k"
    (root / "images").mkdir(parents=True)
    rng, tokens = random.Random(7), []
    for split in ("dev", "test"):
        names = [f"{split}{i}.jpg" for i in range(6)]
        for name in names:
            colour, shape = rng.choice(["red", "green", "blue"]), rng.choice(["square", "circle"])
            draw(colour, shape, rng).save(root / "images" / name, format="PNG")
            tokens += [f"{name}#{k}\t{text}" for k, text in enumerate(
                [f"a {colour} {shape} on a white background", f"there is a {colour} {shape}", f"a {colour} {shape}",
                 f"a {shape} that is {colour}", f"one {colour} {shape}"])]
        write_lines(root / f"Flickr_8k.{split}Images.txt", names)
    write_lines(root / "Flickr8k.token.txt", tokens)
    return {"model": cfg.model_dir, "lm": lm.model_dir, "root": str(root)}


def _rows(out: str) -> dict[str, list[str]]:
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")]
    return {c[0]: c[1:] for c in cells[1:]}  # label -> BLEU-1..4, CIDEr-D, images/s


def test_one_row_per_combination_labelled_with_its_settings(setup):
    argv = ["--model", setup["model"], "--root", setup["root"], "--split", "val", "--limit", "4", "--beams", "1", "2",
            "--alphas", "0", "1", "--no-repeat-ngram", "0", "2", "--threads", "1"]
    out = _bench().main(argv)
    rows = _rows(out)
    want = [f"ours, beam {b}, alpha {a}" + (", no-repeat 2" if n else "") for b in (1, 2) for a in (0, 1) for n in (0, 2)]
    assert list(rows)[:8] == want and len(rows) == 8 + 2 and "Show-Attend-Tell hard (Xu et al. 2015)" in rows
    assert all(len(r) == 6 and float(r[-1]) > 0 for r in list(rows.values())[:8])
    assert "on Flickr8k val (4 images, 5 references each)" in out
    assert f"Command: `python bench/flickr8k_eval.py {' '.join(argv)}`" in out


def test_rows_score_what_the_captioner_gives_and_the_equalities_hold(setup):
    from seq2seq.caption import Captioner
    from seq2seq.data.corpus import flickr8k, normalize_caption
    from seq2seq.metrics import caption_bleu, cider_d

    base = ["--root", setup["root"], "--beams", "2", "--threads", "1"]
    alone = _rows(_bench().main(["--model", setup["model"], *base]))
    twice = _rows(_bench().main(["--model", setup["model"], "--model", setup["model"], *base]))
    fused = _rows(_bench().main(["--model", setup["model"], *base, "--lm", setup["lm"], "--lm-weights", "0", "0.5"]))
    row = "ours, beam 2, alpha 0"
    assert [k for k in fused if k.startswith("ours")] == [row, row + ", LM x 0.5"]
    assert alone[row][:5] == twice[row][:5] == fused[row][:5]  # the same scores: images/s may differ
    paths, refs = flickr8k("test", setup["root"])
    hyps = [normalize_caption(c.text) for c in Captioner.load(setup["model"], "cpu", beam=2).generate(paths)]
    assert any(hyps)  # the model says something: the equalities mean something
    b = caption_bleu(hyps, [[r[k] for r in refs] for k in range(5)])
    want = [f"{b[f'bleu{n}'].score:.1f}" for n in range(1, 5)] + [f"{cider_d(hyps, refs) * 100:.1f}"]
    assert alone[row][:5] == want


def test_lm_and_weights_go_together(setup, capsys):
    with pytest.raises(SystemExit) as e:
        _bench().main(["--model", setup["model"], "--root", setup["root"], "--lm", setup["lm"]])
    assert e.value.code == 2 and re.search(r"--lm and --lm-weights go together", capsys.readouterr().err)
