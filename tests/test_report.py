"""Evaluation reports: built on tiny models trained here, checked for structure
(every section, balanced HTML, decodable inline PNGs, no scripts or remote references), escaping, agreement with
`seq2seq evaluate --json` and the metric functions, the Markdown twin, --compare's p-values, and bad input.

The models are barely trained, so tests check properties and computed equalities, never particular scores.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import reverse_pairs, tiny_config, write_lines
from seq2seq.cli import main
from seq2seq.trainer import Trainer

XSS = "<script>alert(1)</script> 1 2"
XSS_REF = "2 1 </b>&amp;"
TRANSLATION_SECTIONS = {"scores", "significance", "length", "training", "examples", "attention", "model-card"}
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}


class Page(HTMLParser):
    """What the tests look at: section ids, headings, img sources, figures, tag balance, score rows."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []
        self.sections, self.h2, self.imgs, self.figures, self.tags = [], [], [], [], []
        self.rows: dict[str, list[str]] = {}
        self._row, self._h2, self._cell = None, None, None
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "h2":
            self._h2 = ""
        elif tag == "img":
            self.imgs.append(a["src"])
        elif tag == "figure":
            self.figures.append(a)
        elif tag == "tr" and "data-row" in a:
            self._row = a["data-row"]
            self.rows[self._row] = []
        elif tag == "td" and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag == "h2":
            self.h2.append(self._h2)
            self._h2 = None
        elif tag == "td" and self._cell is not None:
            self.rows[self._row].append(self._cell)
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._h2 is not None:
            self._h2 += data
        if self._cell is not None:
            self._cell += data


def check_page(path: Path) -> Page:
    """Balanced tags, no scripts, nothing remote, every image a decodable inline PNG."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = Page(text)
    assert not page.errors, page.errors[:5]
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed", "link")]
    for tag, a in page.tags:
        for key in ("src", "href"):
            if key in a:
                assert a[key].startswith(("data:image/png;base64,", "#")), (tag, a[key][:60])
    assert page.imgs
    for src in page.imgs:
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True))).verify()
    return page


def run(capsys, argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def user_error(rc: int, err: str) -> str:
    assert rc == 2 and "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def score_cells(page: Page) -> dict[str, float]:
    return {k: float(v[1]) for k, v in page.rows.items() if k in ("bleu", "chrf", "ter") or k.startswith(("bleu",
                                                                                                           "cider"))}


# -- translation -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def translation(tmp_path_factory):
    """A tiny reversal model (a few dozen steps; greedy search, as its beam search still prefers empty output), a
    test set whose first line is an XSS attempt, a baseline hypothesis file for --compare, and the report."""
    tmp = tmp_path_factory.mktemp("report")
    cfg = tiny_config(tmp, train={"max_steps": 40, "valid_every": 20})
    Trainer(cfg, progress=False).train()
    src, ref = reverse_pairs(30, seed=5, min_len=1, max_len=12)
    d = {"model": Path(cfg.model_dir), "src": tmp / "test.src", "ref": tmp / "test.ref", "tmp": tmp,
         "base": tmp / "greedy.hyp"}
    write_lines(d["src"], [XSS] + src)
    write_lines(d["ref"], [XSS_REF] + ref)
    write_lines(d["base"], ["2 1"] + [" ".join(r.split()[1:]) or "0" for r in ref])  # a baseline system's output
    d["html"] = tmp / "out" / "report.html"
    assert main(["report", "--model", str(d["model"]), "--src", str(d["src"]), "--ref", str(d["ref"]), "--beam", "1",
                 "--compare", str(d["base"]), "--bootstrap", "200", "--out", str(d["html"])]) == 0
    return d


def test_translation_report_has_every_section(translation):
    page = check_page(translation["html"])
    assert set(page.sections) == TRANSLATION_SECTIONS
    assert len(page.h2) == len(page.sections) and all(h.strip() for h in page.h2)
    plots = {f.get("data-plot") for f in page.figures}
    assert {"bleu-by-length", "length-ratio", "training"} <= plots
    heatmaps = [f for f in page.figures if f.get("class") == "attn-heatmap"]
    assert 1 <= len(heatmaps) <= 3 and all(int(f["data-rows"]) >= 1 and int(f["data-cols"]) >= 2 for f in heatmaps)
    text = translation["html"].read_text()
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in text  # sacreBLEU signatures
    assert "sentences/s" in text and "parameters" in text
    assert "lexical shortlist" in text  # training made one; the report says that decoding used it


def test_translation_report_escapes_text(translation):
    text = translation["html"].read_text()
    assert "<script" not in text and "</b>" not in text
    assert html_escape(XSS) in text and html_escape(XSS_REF) in text  # shown, escaped, in the examples
    md = translation["html"].with_suffix(".md").read_text()
    assert "<script" not in md and "</b>" not in md and "&lt;script" in md


def html_escape(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def test_scores_equal_evaluate_json(translation, capsys):
    rc, out, _ = run(capsys, ["evaluate", "--model", translation["model"], "--src", translation["src"], "--ref",
                              translation["ref"], "--beam", "1", "--json"])
    assert rc == 0
    want = {k: v["score"] for k, v in json.loads(out).items()}
    assert want["chrf"] > 0  # the model says something, so the comparison means something
    page = Page(translation["html"].read_text())
    got = score_cells(page)
    assert got == pytest.approx(want, abs=1e-9) and set(got) == {"bleu", "chrf", "ter"}
    for key, row in page.rows.items():  # the 95% interval is a proper interval
        if key in want:
            lo, hi = map(float, re.findall(r"-?[\d.]+", row[2]))
            assert lo <= hi
    md = translation["html"].with_suffix(".md").read_text()
    scores_md = md.split("\n## Scores\n")[1].split("\n## ")[0]
    md_scores = dict(re.findall(r"^\| (BLEU|chrF2|TER) \| ([\d.]+) \|", scores_md, re.M))
    assert {k: float(v) for k, v in md_scores.items()} == pytest.approx(
        {"BLEU": want["bleu"], "chrF2": want["chrf"], "TER": want["ter"]}, abs=1e-9)
    assert {s for s in re.findall(r"^## (.+)$", md, re.M)} == set(page.h2)


def test_compare_gives_p_values(translation):
    page = Page(translation["html"].read_text())
    for metric in ("BLEU", "chrF2", "TER"):
        cells = page.rows[metric]
        p = float(cells[4])
        assert 0 < p <= 1
        assert "bs:200" in cells[6] and "seed:12345" in cells[6]
    assert "p-value" in translation["html"].with_suffix(".md").read_text()


def test_compare_with_itself_is_not_significant(translation, tmp_path):
    out = tmp_path / "self.html"
    assert main(["report", "--model", str(translation["model"]), "--src", str(translation["src"]), "--ref",
                 str(translation["ref"]), "--compare", str(translation["model"]), "--beam", "1", "--bootstrap", "50",
                 "--examples", "2", "--attention", "1", "--out", str(out)]) == 0
    page = Page(out.read_text())
    assert all(float(page.rows[m][4]) == 1.0 and float(page.rows[m][3]) == 0.0 for m in ("BLEU", "chrF2", "TER"))


def test_shipped_style_model_without_log(translation, tmp_path):
    """A folder with weights, config, tokenizer and card.md but no log.jsonl: the training section says so."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for f in translation["model"].iterdir():
        if f.name in ("config.yaml", "best.pt") or f.suffix == ".model":
            shutil.copy(f, shipped / f.name)
    (shipped / "card.md").write_text("Summary: reversal\n\nTrained on <digits> & more.\n")
    out = tmp_path / "r.html"
    assert main(["report", "--model", str(shipped), "--src", str(translation["src"]), "--ref", str(translation["ref"]),
                 "--bootstrap", "20", "--attention", "0", "--out", str(out)]) == 0
    page = check_page(out)
    assert set(page.sections) == TRANSLATION_SECTIONS - {"significance"}
    text = out.read_text()
    assert "no log.jsonl" in text and "Trained on &lt;digits&gt; &amp; more." in text
    assert "training" not in {f.get("data-plot") for f in page.figures}


def test_bad_input_one_error_line(translation, tmp_path, capsys):
    m, s, r = translation["model"], translation["src"], translation["ref"]
    out = tmp_path / "r.html"
    short = write_lines(tmp_path / "short.ref", ["1 2", "3"])
    cases = [
        (["--src", s, "--ref", tmp_path / "missing.ref"], "missing.ref"),
        (["--src", s, "--ref", short], "short.ref has 2 lines"),
        (["--src", s, "--ref", r, "--compare", short], "short.ref has 2 lines"),
        (["--src", s, "--ref", r, "--compare", tmp_path / "nope.hyp"], "--compare"),
        (["--src", s], "--ref"),
        ([], "nothing to evaluate"),
        (["--src", s, "--ref", r, "--captions", r], "not both"),
    ]
    for extra, needle in cases:
        line = user_error(*run(capsys, ["report", "--model", m, "--out", out, *extra])[::2])
        assert needle in line, line
    line = user_error(*run(capsys, ["report", "--model", m, "--src", s, "--ref", r, "--out", tmp_path / "r.md"])[::2])
    assert "Markdown" in line
    assert not out.exists()


# -- captioning ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def captioning(tmp_path_factory):
    from test_caption import caption_config, shapes_dataset

    tmp = tmp_path_factory.mktemp("capreport")
    files = shapes_dataset(tmp / "data", n_train=80, n_valid=10)
    cfg = caption_config(tmp, files, max_steps=40, valid_every=20, log_every=10)
    Trainer(cfg, progress=False).train()
    return {"tmp": tmp, "model": Path(cfg.model_dir), "tsv": Path(files["valid"])}


def test_caption_report(captioning, tmp_path):
    from seq2seq.caption import Captioner
    from seq2seq.corpus import caption_table, normalize_caption
    from seq2seq.metrics import caption_bleu, cider_d

    out = tmp_path / "cap.html"
    assert main(["report", "--model", str(captioning["model"]), "--captions", str(captioning["tsv"]),
                 "--bootstrap", "100", "--attention", "2", "--out", str(out)]) == 0
    page = check_page(out)
    assert set(page.sections) == TRANSLATION_SECTIONS - {"significance"}
    grids = [f for f in page.figures if f.get("class") == "attn-grid"]
    assert len(grids) == 2
    for g in grids:  # one panel per generated word (EOS included) over a square feature grid (small CNN: 4x4)
        assert int(g["data-panels"]) >= 2 and g["data-grid"] == "4x4"
    thumbs = [t for t, a in page.tags if t == "img" and a.get("class") == "thumb"]
    assert thumbs  # examples show the images
    # the numbers are the metric functions' on the same captions
    paths, caps = caption_table(captioning["tsv"], None)
    cap = Captioner.from_dir(captioning["model"], "cpu")
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


# -- statistics helpers ----------------------------------------------------------------------------------------
def test_bootstrap_count_matrix_equals_explicit_resampling():
    from sacrebleu.metrics import BLEU

    from seq2seq.report import bootstrap_indices_counts, bootstrap_metric, sentence_stats

    _, ref = reverse_pairs(40, seed=3)
    hyps = [" ".join(s.split()[: max(1, len(s.split()) - 1)]) for s in ref]
    metric = BLEU()
    stats = sentence_stats(metric, hyps, [ref])
    fast = bootstrap_metric(metric, stats, n_boot=30, seed=7)
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(stats), size=(30, len(stats)))
    slow = [metric._compute_score_from_stats(stats[i].sum(0)).score for i in idx]
    assert fast == pytest.approx(slow, abs=1e-9)
    counts = next(bootstrap_indices_counts(len(stats), 30, 7))
    assert (counts.sum(1) == len(stats)).all()


def test_cider_items_average_to_cider_d_and_buckets_cover():
    from seq2seq.metrics import cider_d
    from seq2seq.metrics import cider_d_items
    from seq2seq.report import length_buckets

    hyps = ["a red circle", "a blue square on white", "there is a red square"]
    refs = [["a red circle on a white background", "there is a red circle"], ["a blue square"],
            ["there is a red square", "a red square"]]
    assert np.mean(cider_d_items(hyps, refs)) == pytest.approx(cider_d(hyps, refs))
    for lengths in ([1, 2, 3], [3, 17, 40, 41, 90], [7] * 5, list(range(1, 200, 7))):
        buckets = length_buckets(lengths)
        assert all(any(lo <= x <= hi for lo, hi in buckets) for x in lengths)
        assert all(a[1] < b[0] for a, b in zip(buckets, buckets[1:])) and len(buckets) <= 7
