"""The report's document model: sections, paragraphs, tables, figures and Markdown blocks built once and rendered
twice, as one self-contained HTML page (inline CSS and PNGs, no scripts, phone-width safe) and as Markdown."""

from __future__ import annotations

import base64
import html
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.report.markdown import to_html, to_markdown
from seq2seq.version import __version__


class Raw(str):
    """HTML that is already safe (our own markup); every other cell text is escaped."""


# Phone-width rules: nothing may be wider than the screen. Tables sit in a .wide box and figures scroll inside
# themselves; long unbroken text (paths, signatures) may break anywhere; attention figures keep their natural
# size on small screens (scaled down to 390 px their labels would be unreadable) and scroll instead.
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid #e3e6ea}
h3{font-size:16px;margin:20px 0 8px}
h4,h5,h6{font-size:15px;margin:16px 0 6px}
h1,h2,h3,h4,h5,h6,p,li,figcaption,.meta{overflow-wrap:anywhere}
.meta{color:#5b6570;font-size:13px;margin:0}
nav{margin:14px 0 4px;font-size:14px}nav a{display:inline-block;margin-right:14px;color:#1f5fa8;text-decoration:none}
.wide{max-width:100%;overflow-x:auto;margin:8px 0 14px}
table{border-collapse:collapse;font-size:14px}
th,td{border:1px solid #dde1e6;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.examples td{max-width:330px;overflow-wrap:anywhere}
table.examples td.text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px;
overflow-wrap:anywhere}
pre{background:#f6f8fa;border:1px solid #e3e6ea;padding:10px;overflow-x:auto;white-space:pre-wrap;font-size:13px}
pre code{background:none;padding:0;font-size:12px}
figure{margin:10px 0 18px;max-width:100%;overflow-x:auto}figure img{max-width:100%;height:auto;border:1px solid #eceef1}
.figrow{display:flex;flex-wrap:wrap;gap:0 22px;align-items:flex-start}.figrow>figure{min-width:0}
figcaption{color:#5b6570;font-size:13px;margin-top:3px}
.note{background:#fff8e5;border-left:4px solid #f0b400;padding:7px 11px;margin:8px 0;font-size:14px}
.sig{color:#0a7a2f;font-weight:600}.nsig{color:#8a5a00}
td.key{color:#5b6570;font-size:13px}
img.thumb{max-width:140px;max-height:140px;border:1px solid #ddd}
.card{border-left:3px solid #e3e6ea;padding-left:12px}
footer{margin-top:40px;color:#7a838c;font-size:12px;overflow-wrap:anywhere}
@media (max-width:600px){
main{padding:14px 12px 40px}h1{font-size:21px}h2{font-size:18px}
figure.attn-heatmap img,figure.attn-grid img{max-width:none}
}
"""


def md_escape(text: str) -> str:
    """Text for a Markdown table cell or paragraph: no raw HTML, no table breaks, no accidental emphasis."""
    text = str(text).replace("\\", "\\\\").replace("\r", " ").replace("\n", " ")
    for ch in "|*_`[]#":
        text = text.replace(ch, "\\" + ch)
    text = re.sub(r"&(?=#?\w+;)", "&amp;", text)  # an entity would render as its character
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)  # a tag would render as HTML


def md_code(text: str) -> str:
    """An inline code span for a Markdown table cell ('|' must stay escaped even inside code)."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|") + "`"


def esc(text) -> str:
    """HTML-escaped text, unless it is Raw (our own markup)."""
    return text if isinstance(text, Raw) else html.escape(str(text), quote=True)


@dataclass
class Cell:
    """One table cell: HTML (escaped unless Raw), its Markdown text, and an optional class."""

    html: str
    md: str
    cls: str = ""


def cell(value, md: str | None = None, cls: str = "") -> Cell:
    """A Cell from a value: floats get two decimals and the number style; text is escaped for both outputs."""
    if isinstance(value, Cell):
        return value
    if isinstance(value, float):
        return Cell(f"{value:.2f}", f"{value:.2f}", cls or "num")
    return Cell(esc(value), md_escape(value) if md is None else md, cls)


def num(text: str, cls: str = "num") -> Cell:
    """A number already formatted: the same text in both outputs, right-aligned."""
    return Cell(esc(text), text, cls)


def code(text: str) -> Cell:
    """A signature or file name as inline code in both outputs."""
    return Cell(f"<code>{esc(text)}</code>", md_code(text))


@dataclass
class Doc:
    """A report under construction: sections of parallel HTML and Markdown."""

    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def section(self, sid: str, title: str) -> None:
        if self.sections:
            self.html.append("</section>")
        self.sections.append((sid, title))
        self.html.append(f'<section id="{sid}">\n<h2>{esc(title)}</h2>')
        self.md.append(f"\n## {title}\n")

    def h3(self, title: str) -> None:
        self.html.append(f"<h3>{esc(title)}</h3>")
        self.md.append(f"\n### {md_escape(title)}\n")

    def p(self, text: str, cls: str = "") -> None:
        attr = f' class="{cls}"' if cls else ""
        self.html.append(f"<p{attr}>{esc(text)}</p>")
        self.md.append(("> **Note:** " if cls == "note" else "") + md_escape(text) + "\n")

    def note(self, text: str) -> None:
        self.p(text, "note")

    def pre(self, text: str) -> None:
        self.html.append(f"<pre>{html.escape(text)}</pre>")
        fence = "````" if "```" in text else "```"
        self.md.append(f"{fence}text\n{text.rstrip()}\n{fence}\n")

    def markdown(self, text: str, cls: str = "card", shift: int = 3) -> None:
        """A Markdown document (a model card) rendered into both outputs, its headings `shift` levels down so
        that they nest under the current section (raw HTML in it is shown as text)."""
        self.html.append(f'<div class="{cls}">\n{to_html(text, shift)}</div>')
        self.md.append(to_markdown(text, shift) + "\n")

    def table(self, headers: list[str], rows: list[list], cls: str = "", row_ids: list[str] | None = None) -> None:
        rows = [[cell(v) for v in r] for r in rows]
        attr = f' class="{cls}"' if cls else ""
        out = [f'<div class="wide"><table{attr}><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in headers)
               + "</tr></thead><tbody>"]
        for i, r in enumerate(rows):
            rid = f' data-row="{esc(row_ids[i])}"' if row_ids else ""
            out.append(f"<tr{rid}>" + "".join(_td(c) for c in r) + "</tr>")
        out.append("</tbody></table></div>")
        self.html.append("\n".join(out))
        md = ["| " + " | ".join(md_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
        md += ["| " + " | ".join(c.md for c in r) + " |" for r in rows]
        self.md.append("\n".join(md) + "\n")

    def figure(self, fig, caption: str, cls: str = "", attrs: dict | None = None) -> None:
        """A matplotlib Figure, embedded as a base64 PNG (the Markdown twin names it and points to the HTML)."""
        data = png_base64(fig)
        extra = "".join(f' data-{k}="{esc(v)}"' for k, v in (attrs or {}).items())
        c = f' class="{cls}"' if cls else ""
        self.html.append(f'<figure{c}{extra}><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
        self.md.append(f"*Figure: {md_escape(caption)} (embedded in the HTML report).*\n")

    def row_start(self) -> None:
        """Figures from here to row_end() sit side by side where the page is wide enough."""
        self.html.append('<div class="figrow">')

    def row_end(self) -> None:
        self.html.append("</div>")

    def render_html(self, meta: list[str]) -> str:
        nav = " ".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t in self.sections)
        body = "\n".join(self.html) + ("\n</section>" if self.sections else "")
        metas = "".join(f'<p class="meta">{esc(m)}</p>' for m in meta)
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"<title>{esc(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
                f"<header><h1>{esc(self.title)}</h1>{metas}<nav>{nav}</nav></header>\n{body}\n"
                f"<footer>seq2seq {__version__} · self-contained report: figures are inline PNG, no scripts, "
                f"no network.</footer>\n</main>\n</body>\n</html>\n")

    def render_md(self, meta: list[str]) -> str:
        head = [f"# {self.title}", ""] + [md_escape(m) + "  " for m in meta]
        return "\n".join(head) + "\n" + "\n".join(self.md)

    def write(self, out: str | Path, meta: list[str]) -> tuple[Path, Path]:
        out = check_out(out)
        md_path = out.with_suffix(".md")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(self.render_html(meta), encoding="utf-8")
            md_path.write_text(self.render_md(meta), encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot write {out}: {e.strerror}") from None
        return out, md_path


def _td(c: Cell) -> str:
    return f'<td class="{c.cls}">{c.html}</td>' if c.cls else f"<td>{c.html}</td>"


def check_out(out: str | Path) -> Path:
    """The HTML path to write; its Markdown twin takes the same name with .md."""
    out = Path(out)
    if out.suffix.lower() == ".md":
        raise UserError(f"--out {out}: give the HTML file's name; the Markdown twin is written beside it")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
    return out


def new_figure(w: float, h: float):
    """A matplotlib Figure not tied to pyplot (no global state; PNGs render with Agg)."""
    from matplotlib.figure import Figure  # lazy: keeps start-up fast

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def png_base64(fig) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():  # glyphs missing from the default font (e.g. CJK) print a warning each
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def pil_base64(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
