"""Captioning reports: built on a tiny shapes captioner trained here, checked for structure (attention grids,
thumbnails), agreement with the metric functions, image lists, bad input, and a phone's width."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_lines
from seq2seq.cli import main
from seq2seq.train.trainer import Trainer
from pages import assert_fits_a_phone, check_page, run, score_cells, user_error

SECTIONS = {"scores", "length", "training", "examples", "attention", "model-card"}  # significance: with --compare


@pytest.fixture(scope="module")
def captioning(tmp_path_factory):
    from conftest import caption_config, shapes_dataset

    tmp = tmp_path_factory.mktemp("capreport")
    files = shapes_dataset(tmp / "data", n_train=80, n_valid=10)
    cfg = caption_config(tmp, files, max_steps=40, valid_every=20, log_every=10)
    Trainer(cfg, progress=False).train()
    d = {"tmp": tmp, "model": Path(cfg.model_dir), "tsv": Path(files["valid"]), "html": tmp / "cap.html"}
    assert main(["report", "--model", str(d["model"]), "--captions", str(d["tsv"]), "--bootstrap", "100",
                 "--attention", "2", "--out", str(d["html"])]) == 0
    return d


def test_caption_report(captioning):
    from seq2seq.caption import Captioner
    from seq2seq.data.corpus import caption_table, normalize_caption
    from seq2seq.metrics import caption_bleu, cider_d

    out = captioning["html"]
    page = check_page(out)
    assert set(page.sections) == SECTIONS
    grids = [f for f in page.figures if f.get("class") == "attn-grid"]
    assert len(grids) == 2
    for g in grids:  # one panel per generated word (EOS included) over a square feature grid (small CNN: 4x4)
        assert int(g["data-panels"]) >= 2 and g["data-grid"] == "4x4"
    thumbs = [t for t, a in page.tags if t == "img" and a.get("class") == "thumb"]
    assert thumbs  # examples show the images
    # the numbers are the metric functions' on the same captions
    paths, caps = caption_table(captioning["tsv"], None)
    cap = Captioner.load(captioning["model"], "cpu")
    hyps = [normalize_caption(c.text) for c in cap.caption_files(paths)]
    streams = [[c[k] if k < len(c) else c[0] for c in caps] for k in range(max(map(len, caps)))]
    want = {k: v.score for k, v in caption_bleu(hyps, streams).items()}
    want["cider"] = round(cider_d(hyps, caps), 3)
    assert score_cells(page) == pytest.approx(want, abs=1e-9)
    md = out.with_suffix(".md").read_text()
    assert f"| CIDEr-D | {want['cider']:.3f} |" in md and f"| BLEU-4 | {want['bleu4']:.2f} |" in md


def test_caption_report_image_list_and_errors(captioning, tmp_path, capsys):
    tsv, data = captioning["tsv"], captioning["tsv"].parent
    listing = write_lines(tmp_path / "list.txt", [str(data / "valid-0.png"), "valid-3.png"])
    out = tmp_path / "c.html"
    rc, _, _ = run(capsys, ["report", "--model", captioning["model"], "--captions", tsv, "--images", listing,
                            "--bootstrap", "20", "--attention", "1", "--out", out])
    assert rc == 0 and "2 images" in out.read_text()
    bad = write_lines(tmp_path / "bad.txt", ["valid-0.png", "elsewhere.png"])
    line = user_error(*run(capsys, ["report", "--model", captioning["model"], "--captions", tsv, "--images", bad,
                                    "--out", out])[::2])
    assert "elsewhere.png" in line
    line = user_error(*run(capsys, ["report", "--model", captioning["model"], "--images", listing, "--out", out])[::2])
    assert "--captions" in line
    # options that used to be accepted and ignored (the report ran without them)
    for extra, needle in ((["--captions", tsv, "--ref", tsv], "--ref"),  # the TSV's captions were the references
                          (["--captions", tsv, "--split", "val"], "--split"),  # only chooses a --dataset split
                          (["--captions", tsv, "--root", data], "--root"),
                          (["--dataset", "flickr8k", "--root", data, "--images-dir", data], "--images-dir"),
                          (["--captions", tsv, "--limit", "-1"], "--limit")):  # dropped the last image
        line = user_error(*run(capsys, ["report", "--model", captioning["model"], *extra, "--out", out])[::2])
        assert needle in line, line


def test_an_ensemble_caption_report_names_its_members_and_scores_as_the_ensemble(captioning, capsys):
    """A captioner with itself: its members named on the page, the same scores as the model alone, and the
    first member's attention panels."""
    out = captioning["tmp"] / "ens.html"
    model = str(captioning["model"])
    rc, _, _ = run(capsys, ["report", "--model", model, "--model", model, "--captions", captioning["tsv"],
                            "--bootstrap", "100", "--attention", "2", "--out", out])
    assert rc == 0
    page = check_page(out)
    assert score_cells(page) == pytest.approx(score_cells(check_page(captioning["html"])), abs=1e-9)
    grids = [g for g in page.figures if g.get("class") == "attn-grid"]
    assert len(grids) == 2 and all(g["data-grid"] == "4x4" for g in grids)
    for doc in (out.read_text(), out.with_suffix(".md").read_text()):
        assert "2 models, log-probabilities averaged" in doc and f"{model}, {model}" in doc


def test_caption_report_fits_a_phone_screen(captioning):
    assert_fits_a_phone(captioning["html"])
