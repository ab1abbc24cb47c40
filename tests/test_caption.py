"""Captioning through the shared decoder: a synthetic shapes task is learnt, features are cached, CIDEr-D and
BLEU-1..4 are right on hand-made cases, and bad image files fail alone."""

import random

import pytest
import torch
from PIL import Image, ImageDraw

from conftest import write_lines
from seq2seq import UserError
from seq2seq.caption import Captioner
from seq2seq.cli import main
from seq2seq.config import from_dict
from seq2seq.metrics import caption_bleu, cider_d
from seq2seq.trainer import Trainer

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (40, 60, 220)}
SHAPES = ("square", "circle")


def draw(colour: str, shape: str, rng: random.Random, size: int = 32) -> Image.Image:
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    r = rng.randint(7, 10)
    cx, cy = rng.randint(r + 1, size - r - 2), rng.randint(r + 1, size - r - 2)
    box = (cx - r, cy - r, cx + r, cy + r)
    (d.rectangle if shape == "square" else d.ellipse)(box, fill=COLOURS[colour])
    return im


def shapes_dataset(folder, n_train=400, n_valid=24, seed=0):
    """TSV files of image<TAB>caption; two phrasings per image."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        rows = []
        for i in range(n):
            colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
            name = f"{split}-{i}.png"
            draw(colour, shape, rng).save(folder / name)
            rows += [f"{name}\ta {colour} {shape} on a white background", f"{name}\tthere is a {colour} {shape}"]
        files[split] = write_lines(folder / f"{split}.tsv", rows)
    return files


def caption_config(tmp_path, files, **train):
    return from_dict({
        "model_dir": str(tmp_path / "model"),
        "data": {"train": files["train"], "valid": files["valid"], "images_dir": str(tmp_path / "data"),
                 "image_size": 32, "spm_type": "word", "vocab_size": 16, "feature_cache": str(tmp_path / "cache")},
        "model": {"encoder": "image", "backbone": "small", "pretrained": False, "cell": "gru", "emb_dim": 16,
                  "hidden": 48, "dec_layers": 1, "dropout": 0.0, "emb_dropout": 0.0, "attention": "bahdanau"},
        "train": {"batch_tokens": 400, "max_steps": 300, "valid_every": 150, "lr": 0.01, "schedule": "constant",
                  "label_smoothing": 0.0, "attn_reg": 0.1, "log_every": 50, **train},
        "search": {"beam": 3, "alpha": 0.0, "max_len_ratio": 0.0, "max_len_offset": 12},
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("caption")
    files = shapes_dataset(tmp / "data")
    cfg = caption_config(tmp, files)
    Trainer(cfg, progress=False).train()
    return tmp, cfg


def test_learns_to_name_colour_and_shape(trained):
    tmp, cfg = trained
    cap = Captioner.from_dir(cfg.model_dir, "cpu")
    rng = random.Random(99)
    truth, images = [], []
    for colour in COLOURS:
        for shape in SHAPES:
            for _ in range(3):
                truth.append((colour, shape))
                images.append(draw(colour, shape, rng))
    out = cap.caption_images(images)
    right = sum(f"{col} {sh}" in c.text for c, (col, sh) in zip(out, truth))
    assert right / len(truth) >= 0.8, [c.text for c in out]


def test_feature_cache_hit_and_miss(trained, tmp_path):
    tmp, cfg = trained
    cache = tmp / "cache"
    files = sorted(cache.iterdir())
    assert len(files) == 2  # train and valid images, computed once
    stamps = [f.stat().st_mtime_ns for f in files]
    cfg2 = caption_config(tmp_path, {"train": cfg.data.train, "valid": cfg.data.valid}, max_steps=1, valid_every=1)
    cfg2.data.images_dir, cfg2.data.feature_cache = cfg.data.images_dir, str(cache)
    Trainer(cfg2, progress=False).train()
    assert [f.stat().st_mtime_ns for f in sorted(cache.iterdir())] == stamps  # hit: nothing rewritten
    cfg3 = caption_config(tmp_path / "b", {"train": cfg.data.train, "valid": cfg.data.valid}, max_steps=1,
                          valid_every=1)
    cfg3.data.images_dir, cfg3.data.feature_cache, cfg3.data.image_size = cfg.data.images_dir, str(cache), 48
    Trainer(cfg3, progress=False).train()
    assert len(list(cache.iterdir())) == 4  # another transform: a miss, new files


def test_caption_cli_bad_images_fail_alone(trained, tmp_path, capsys):
    tmp, cfg = trained
    good = tmp_path / "good.png"
    draw("red", "square", random.Random(1)).save(good)
    gray = tmp_path / "gray.png"
    draw("blue", "circle", random.Random(2)).convert("L").save(gray)
    rgba = tmp_path / "rgba.png"
    draw("green", "square", random.Random(3)).convert("RGBA").save(rgba)
    cmyk = tmp_path / "cmyk.jpg"
    draw("red", "circle", random.Random(4)).convert("CMYK").save(cmyk)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    trunc = tmp_path / "trunc.jpg"
    draw("red", "circle", random.Random(5)).resize((256, 256)).save(trunc, quality=95)
    trunc.write_bytes(trunc.read_bytes()[: trunc.stat().st_size // 2])
    missing = tmp_path / "missing.png"
    paths = [good, gray, text, rgba, missing, trunc, cmyk]
    rc = main(["caption", "--model", cfg.model_dir, *map(str, paths)])
    out, err = capsys.readouterr()
    lines = out.split("\n")[:-1]
    assert rc == 1 and len(lines) == len(paths)
    assert [bool(x) for x in lines] == [True, True, False, True, False, False, True]
    errs = err.strip().split("\n")
    assert len(errs) == 3 and all(e.startswith("error: ") for e in errs) and "Traceback" not in err
    for bad, e in zip((text, missing, trunc), errs):
        assert str(bad) in e


def test_caption_cli_all_good_exit_zero(trained, tmp_path, capsys):
    tmp, cfg = trained
    p = tmp_path / "a.png"
    draw("green", "circle", random.Random(7)).save(p)
    assert main(["caption", "--model", cfg.model_dir, "--beam", "1", str(p)]) == 0
    assert capsys.readouterr().out.strip() != ""


def test_translation_model_is_not_a_captioner(tmp_path):
    from conftest import tiny_config

    cfg = tiny_config(tmp_path, train={"max_steps": 1, "valid_every": 1})
    Trainer(cfg, progress=False).train()
    with pytest.raises(UserError, match="not a captioning model"):
        Captioner.from_dir(cfg.model_dir, "cpu")


def test_cider_d_hand_computed():
    """Identical 4+-word captions with no n-gram shared across images: every n-gram cosine is 1 -> 10."""
    hyps = ["a dog runs on grass", "the red car is parked"]
    refs = [["a dog runs on grass"], ["the red car is parked"]]
    assert cider_d(hyps, refs) == pytest.approx(10.0)
    # 3 words: no 4-grams, so the n = 4 term is 0 and the score is 3/4 of 10
    assert cider_d(["a dog runs", "the red car"], [["a dog runs"], ["the red car"]]) == pytest.approx(7.5)
    # an n-gram found in every image's references has idf 0 and counts for nothing
    assert cider_d(["a a a a", "a a a a"], [["a a a a"], ["a a a a"]]) == 0.0
    # length penalty: one word longer than the reference -> exp(-1/72) on the unigram term, other terms shrink
    assert 0 < cider_d(["a dog runs on green grass", "x"], [["a dog runs on grass"], ["y"]]) < 10.0


def test_caption_bleu_uses_every_reference():
    hyps = ["a dog runs on the grass"]
    one = caption_bleu(hyps, [["a cat sits on a mat"]])
    two = caption_bleu(hyps, [["a cat sits on a mat"], ["a dog runs on the grass"]])
    assert two["bleu4"].score == pytest.approx(100.0) and one["bleu4"].score < 100.0
    assert two["bleu1"].score >= two["bleu4"].score
    assert "nrefs:2" in two["bleu4"].signature
