"""What the report tests share: an HTML parser for the pages (sections, figures, score rows, tag balance), the
self-containedness check, the 390 px phone check in headless Chromium, and CLI helpers."""

from __future__ import annotations

import base64
import io
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from seq2seq.cli import main

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
        if "src" in a:
            assert a["src"].startswith("data:image/png;base64,"), (tag, a["src"][:60])
        if "href" in a:  # in-page links, and the model card's own links (followed only when clicked)
            assert a["href"].startswith(("#", "https://")), (tag, a["href"][:60])
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


def assert_fits_a_phone(html: Path) -> None:
    """At 390 px the page never scrolls sideways: content wider than the screen (the card's table, figures)
    scrolls in its own box. Skips without Playwright or Debian's chromium."""
    chromium = shutil.which("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not chromium:
        pytest.skip("chromium is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(html.resolve().as_uri(), timeout=15000)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            boxes = page.evaluate("[...document.querySelectorAll('.wide, figure')].map(e => "
                                  "[e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right])")
            assert all(right <= 390 for _, _, right in boxes)
            assert any(sw > cw for sw, cw, _ in boxes)  # something is wider than the screen, and scrolls in place
        finally:
            browser.close()


# -- the checks themselves -------------------------------------------------------------------------------------
