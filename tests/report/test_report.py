"""Translation reports: built on tiny models trained here, checked for structure (every
section, balanced HTML, decodable inline PNGs, no scripts or remote references), escaping, agreement with
`seq2seq evaluate --json`, the Markdown twin, the rendered model card, --compare's p-values, bad input, decoding
batch by batch, progress bars and a phone's width.

The models are barely trained, so tests check properties and computed equalities, never particular scores.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import reverse_pairs, tiny_config, write_lines
from seq2seq.cli import main
from seq2seq.train.trainer import Trainer
from pages import Page, assert_fits_a_phone, check_page, run, score_cells, user_error

XSS = "<script>alert(1)</script> 1 2"
XSS_REF = "2 1 </b>&amp;"
TRANSLATION_SECTIONS = {"scores", "significance", "length", "training", "examples", "attention", "model-card"}
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
    (d["model"] / "card.md").write_text(CARD)
    d["html"] = tmp / "out" / "report.html"
    assert main(["report", "--model", str(d["model"]), "--src", str(d["src"]), "--ref", str(d["ref"]), "--beam", "1",
                 "--batch-size", "8", "--compare", str(d["base"]), "--bootstrap", "200", "--out", str(d["html"])]) == 0
    return d


CARD = """# toy-reversal

Summary: reverses digit sequences; <b>tiny</b>.

| set | BLEU | chrF | TER | a long column name that makes this table wider than a phone's screen | signature |
|---|---|---|---|---|---|
| test | 12.5 | 40.1 | 70.2 | something | `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0` |

## Training command

```bash
seq2seq train configs/toy.yaml --set train.max_steps=40 data.train_src=/a/rather/long/path/to/some/training/file.src
```

- see [the README](https://example.org/readme)
"""


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


def test_model_card_is_rendered_from_markdown(translation):
    text = translation["html"].read_text()
    card = text.split('<section id="model-card">')[1].split('<div class="card">')[1]
    assert "<h4>toy-reversal</h4>" in card and "<h5>Training command</h5>" in card
    assert "<th>BLEU</th>" in card and "<td>12.5</td>" in card and "|---|" not in card  # a table, not pipes
    assert '<pre><code class="language-bash">seq2seq train' in card and '<a href="https://example.org/readme">' in card
    assert "&lt;b&gt;tiny&lt;/b&gt;" in card
    md = translation["html"].with_suffix(".md").read_text()
    assert "#### toy-reversal" in md and "| test | 12.5 | 40.1 | 70.2 |" in md


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
                              translation["ref"], "--beam", "1", "--batch-size", "8", "--json"])
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
    assert "no log.jsonl" in text and "<p>Trained on &lt;digits&gt; &amp; more.</p>" in text
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
        # options that used to be accepted and silently did something else
        (["--src", s, "--ref", r, "--limit", "-1"], "--limit"),  # dropped the last sentence
        (["--src", s, "--ref", r, "--attention", "-2"], "--attention"),  # drew none
        (["--src", s, "--ref", r, "--examples", "-1"], "--examples"),
    ]
    for extra, needle in cases:
        line = user_error(*run(capsys, ["report", "--model", m, "--out", out, *extra])[::2])
        assert needle in line, line
    line = user_error(*run(capsys, ["report", "--model", m, "--src", s, "--ref", r, "--out", tmp_path / "r.md"])[::2])
    assert "Markdown" in line
    assert not out.exists()


# -- decoding, progress, phone screens ------------------------------------------------------------------------
def test_decoding_progress_follows_the_batches(translation):
    """The report's bar advances per batch of the translator (empty lines at once), and its outputs are those of
    one translate() call, empty lines included, whatever the batch size."""
    from seq2seq.report import ReportOptions
    from seq2seq.report.decode import System
    from seq2seq.translate import Translator

    texts = [line for line in translation["src"].read_text().splitlines()]
    texts = texts[:5] + ["", "   "] + texts[5:]
    for batch in (1, 3, 64):
        opts = ReportOptions(out="r.html", src="s", refs=("r",), beam=2, batch_size=batch, device="cpu")
        system = System.load(str(translation["model"]), "translate", opts)
        seen = []
        hyps, seconds = system.decode(texts, seen.append)
        want = Translator.load(translation["model"], "cpu", beam=2, batch_size=batch).translate(texts)
        assert hyps == want and seconds > 0
        assert sum(seen) == len(texts) and max(seen) <= max(batch, 2)  # one step per batch (and the empty lines)


def test_progress_on_stderr_only_when_asked(translation, tmp_path, capsys):
    args = ["report", "--model", translation["model"], "--src", translation["src"], "--ref", translation["ref"],
            "--compare", translation["base"], "--bootstrap", "20", "--attention", "0", "--examples", "0"]
    rc, out, err = run(capsys, [*args, "--out", tmp_path / "quiet.html"])
    assert rc == 0 and err == "" and out.startswith("wrote ")  # stderr is not a terminal here: nothing on it
    rc, out, err = run(capsys, [*args, "--progress", "--out", tmp_path / "loud.html"])
    assert rc == 0 and out.startswith("wrote ")
    name = f"{translation['model'].parent.name}/model"
    for phase in (f"decoding with {name}", "scoring (20 bootstrap resamples)", "paired bootstrap (20 resamples)",
                  "writing the report"):
        assert phase in err, err
    assert "31/31" in err and "3/3" in err and "7/7" in err  # every bar ran to its end
    assert "No examples asked for (--examples 0)." in (tmp_path / "loud.html").read_text()


def test_translation_report_fits_a_phone_screen(translation):
    assert_fits_a_phone(translation["html"])
