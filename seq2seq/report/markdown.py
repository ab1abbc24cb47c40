"""A model card's Markdown (CommonMark + tables, through markdown-it-py) as safe HTML for the report, and as
Markdown for its twin; in both its headings move down a few levels to nest under the report's own."""

from __future__ import annotations

import re

_HEADING = re.compile(r"^( {0,3})#{1,6}(?=\s|$)")
_TAG = re.compile(r"<(?![A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>)(?=[A-Za-z/!?])")  # a tag, not an <autolink>


def _parser(html: bool = False):
    from markdown_it import MarkdownIt  # lazy: keeps start-up fast

    # html=False: raw HTML in the card is shown as text; images are off (a self-contained page fetches nothing)
    md = MarkdownIt("commonmark", {"html": html}).enable("table").disable("image")
    md.add_render_rule("table_open", lambda self, tokens, idx, options, env: '<div class="wide"><table>\n')
    md.add_render_rule("table_close", lambda self, tokens, idx, options, env: "</table></div>\n")
    return md


def _level(tag: str, shift: int) -> int:
    return min(6, int(tag[1]) + shift)


def to_html(text: str, shift: int = 0) -> str:
    """Safe HTML of a Markdown document: headings, lists, tables (each in a horizontally scrolling box), code,
    links; raw HTML escaped; unsafe link schemes (javascript:, ...) left as text."""
    md = _parser()
    tokens = md.parse(text)
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{_level(t.tag, shift)}"
    return md.renderer.render(tokens, md.options, {})


def to_markdown(text: str, shift: int = 0) -> str:
    """The same document as Markdown to embed in another: headings `shift` levels down (setext headings become
    ATX ones) and raw HTML tags escaped, except inside code blocks and code spans."""
    lines: list[str | None] = list(text.splitlines())
    code: set[int] = set()
    for t in _parser(html=True).parse(text):
        if t.map is None:
            continue
        a, b = t.map
        if t.type in ("fence", "code_block"):
            code.update(range(a, b))
        elif t.type == "heading_open":
            hashes = "#" * _level(t.tag, shift)
            if t.markup.startswith("#"):
                lines[a] = _HEADING.sub(lambda m, h=hashes: m[1] + h, lines[a], count=1)
            else:  # setext: text lines then an underline of = or -
                lines[a] = hashes + " " + " ".join(s.strip() for s in lines[a : b - 1])
                lines[a + 1 : b] = [None] * (b - a - 1)
    out = []
    for i, line in enumerate(lines):
        if line is None:
            continue
        if i not in code:
            parts = re.split(r"(`+.*?`+)", line)  # odd parts are code spans
            line = "".join(p if k % 2 else _TAG.sub("&lt;", p) for k, p in enumerate(parts))
        out.append(line)
    return "\n".join(out)
