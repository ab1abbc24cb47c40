"""The report's document model (HTML and Markdown from one build), model cards rendered from Markdown (tables,
headings nested under the report's, lists, code, links; raw HTML and unsafe links shown as text), and the
checks ReportOptions makes before any slow work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seq2seq.errors import UserError
from seq2seq.report import Cell, Doc, ReportOptions
from seq2seq.report.markdown import to_html, to_markdown

CARD = """# toy-model

Summary: a *tiny* model, <b>not</b> for use & fun

| set | BLEU | chrF |
|---|---|---|
| test | 12.5 | 40.1 |

## Training command

```bash
# a comment, not a heading: <kept>
seq2seq train configs/toy.yaml --set train.max_steps=40
```

- BLEU: `nrefs:1|case:mixed`
- see [the docs](https://example.org/docs) and <https://example.org>
- [bad](javascript:alert(1))

Setext heading
--------------
"""


def test_card_html_renders_the_markdown():
    html = to_html(CARD, shift=3)
    assert "<h4>toy-model</h4>" in html and "<h5>Training command</h5>" in html and "<h5>Setext heading</h5>" in html
    assert "<h1>" not in html and "<h2>" not in html  # the report's own levels stay its own
    assert '<div class="wide"><table>' in html and "<th>BLEU</th>" in html and "<td>12.5</td>" in html
    assert "|---|" not in html and "| test |" not in html  # no raw pipes: the table is a table
    assert "<em>tiny</em>" in html and "<li>BLEU: <code>nrefs:1|case:mixed</code></li>" in html
    assert '<pre><code class="language-bash"># a comment, not a heading: &lt;kept&gt;' in html
    assert '<a href="https://example.org/docs">the docs</a>' in html and '<a href="https://example.org">' in html
    assert "&lt;b&gt;not&lt;/b&gt; for use &amp; fun" in html  # raw HTML is text
    assert 'href="javascript' not in html and "[bad](javascript:alert(1))" in html  # left as text, no link
    assert "<img" not in to_html("![x](http://example.org/x.png)")  # nothing fetched


def test_card_markdown_twin_nests_headings_and_escapes_html():
    md = to_markdown(CARD, shift=3)
    assert md.splitlines()[0] == "#### toy-model"
    assert "##### Training command" in md and "##### Setext heading" in md and "-----" not in md
    assert "# a comment, not a heading: <kept>" in md  # code blocks untouched
    assert "&lt;b>not&lt;/b>" in md and "`nrefs:1|case:mixed`" in md and "<https://example.org>" in md
    assert "| test | 12.5 | 40.1 |" in md


def test_doc_renders_html_and_markdown_twins(tmp_path):
    doc = Doc("A <title>")
    doc.section("one", "First")
    doc.p("x < y & z")
    doc.table(["a", "b|c"], [[1.5, Cell("<b>ok</b>", "**ok**")], ["<i>", "p|q"]], "t", ["r1", "r2"])
    doc.section("two", "Second")
    doc.markdown("# card\n\n| k | v |\n|---|---|\n| a | 1 |\n")
    html, md = doc.write(tmp_path / "r.html", ["meta <1>"])
    text, mdt = html.read_text(), md.read_text()
    assert "<title>A &lt;title&gt;</title>" in text and '<p class="meta">meta &lt;1&gt;</p>' in text
    assert '<a href="#one">First</a> <a href="#two">Second</a>' in text
    assert text.count("<section") == text.count("</section>") == 2
    assert '<div class="wide"><table class="t">' in text and '<tr data-row="r1"><td class="num">1.50</td>' in text
    assert "<td><b>ok</b></td>" in text and "<td>&lt;i&gt;</td>" in text
    assert '<div class="card">\n<h4>card</h4>' in text
    assert "| a | b\\|c |" in mdt and "| 1.50 | **ok** |" in mdt and "| &lt;i> | p\\|q |" in mdt
    assert "\n## First\n" in mdt and "#### card" in mdt and "x < y & z" in mdt


def test_doc_write_refuses_markdown_name_and_folder(tmp_path):
    with pytest.raises(UserError, match="Markdown twin"):
        Doc("t").write(tmp_path / "r.md", [])
    with pytest.raises(UserError, match="folder"):
        Doc("t").write(tmp_path, [])


def test_css_keeps_everything_within_a_phone_width():
    from seq2seq.report.document import CSS

    assert ".wide{max-width:100%;overflow-x:auto" in CSS and "figure{" in CSS and "@media (max-width:600px)" in CSS


# -- options ---------------------------------------------------------------------------------------------------
def _opts(**kw) -> ReportOptions:
    return ReportOptions(**{"out": Path("r.html"), "src": "t.en", "refs": ("t.de",), **kw})


@pytest.mark.parametrize("kw, needle", [
    ({"limit": -1}, "--limit must be >= 0"), ({"examples": -1}, "--examples must be >= 0"),
    ({"attention": -3}, "--attention must be >= 0"), ({"bootstrap": 0}, "--bootstrap must be >= 1"),
    ({"beam": 0}, "--beam"), ({"batch_size": 0}, "--batch-size"), ({"alpha": float("inf")}, "--alpha"),
    ({"alpha": -1.0}, "--alpha"), ({"refs": ()}, "--ref"), ({"captions": "c.tsv"}, "not both"),
    ({"src": None, "refs": ()}, "nothing to evaluate"), ({"src": None, "captions": "c.tsv"}, "--ref is for"),
    ({"src": None, "refs": (), "captions": "c.tsv", "split": "val"}, "--split"),
    ({"src": None, "refs": (), "captions": "c.tsv", "root": "data"}, "--root"),
    ({"src": None, "refs": (), "dataset": "flickr8k", "images_dir": "d"}, "--images-dir"),
    ({"src": None, "refs": (), "dataset": "coco"}, "unknown dataset"),
    ({"src": None, "refs": (), "images": "list.txt"}, "--captions"),
])
def test_options_refuse_what_would_silently_do_something_else(kw, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        _opts(**kw)


def test_options_accept_the_edges():
    o = _opts(limit=0, examples=0, attention=0, bootstrap=1, alpha=0.0)
    assert o.task == "translate" and o.out == Path("r.html")
    c = ReportOptions(out="r.html", dataset="flickr8k", root="data")
    assert c.task == "caption" and c.dataset_split == "test"
    assert _opts(beam=3, shortlist=False).search_overrides() == {"beam": 3, "alpha": None, "batch_size": None,
                                                                  "shortlist": False, "no_repeat_ngram": None,
                                                                  "lm": None, "lm_weight": None}
