"""A self-contained HTML report: titled sections of text, tables and embedded PNG plots.

Later capabilities (robustness, privacy, fairness) add their own sections; the report
only renders what it is given and never recomputes results.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: the report is written to files, never shown
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from trustrec import __version__

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:980px;
color:#1d2330;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;
padding-bottom:.2rem}.meta{color:#667;font-size:.9rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{padding:.3rem .7rem;border-bottom:1px solid #e4e6ef;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f5fa}
figure{margin:1rem 0}figcaption{color:#556;font-size:.88rem}img{max-width:100%}
"""


def figure_to_data_uri(fig: Figure) -> str:
    """Render a matplotlib figure as an embedded ``data:image/png;base64`` URI and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(value: Any) -> str:
    if value is None:  # a metric that does not apply (RMSE of a ranking-only model)
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


@dataclass
class Section:
    """One titled part of the report: paragraphs, tables and figures in order."""

    title: str
    blocks: list[str] = field(default_factory=list)

    def text(self, paragraph: str) -> Section:
        """Add an escaped paragraph."""
        self.blocks.append(f"<p>{html.escape(paragraph)}</p>")
        return self

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Section:
        """Add a table; floats are shown with four decimals."""
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
                       for row in rows)
        self.blocks.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def links(self, targets: Sequence[tuple[str, str]]) -> Section:
        """Add a list of links, each ``(href, label)``, both escaped."""
        items = "".join(f"<li><a href='{html.escape(href, quote=True)}'>{html.escape(label)}"
                        "</a></li>" for href, label in targets)
        self.blocks.append(f"<ul>{items}</ul>")
        return self

    def figure(self, fig: Figure, caption: str) -> Section:
        """Add a matplotlib figure as an embedded PNG with a caption."""
        uri = figure_to_data_uri(fig)
        self.blocks.append(f'<figure><img alt="{html.escape(caption)}" src="{uri}">'
                           f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        return self

    def render(self) -> str:
        """HTML of this section."""
        return f"<section><h2>{html.escape(self.title)}</h2>{''.join(self.blocks)}</section>"


@dataclass
class Report:
    """An ordered list of sections written as one ``index.html``."""

    title: str = "trustrec report"
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> Section:
        """Append a section and return it."""
        self.sections.append(section)
        return section

    def render(self) -> str:
        """The whole HTML document."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = "".join(s.render() for s in self.sections)
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1>"
                f"<p class='meta'>trustrec {__version__} · generated {stamp}</p>{body}"
                f"</body></html>")

    def write(self, directory: str | os.PathLike[str], name: str = "index.html") -> Path:
        """Write the page as ``name`` into ``directory`` (created if needed); returns its
        path. A page under another name is also linked from the folder's ``index.html``
        (see :func:`write_index`), so several reports can share one folder."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        path = out / name
        path.write_text(self.render(), encoding="utf-8")
        if name != "index.html":
            write_index(out)
        return path


_TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)


def write_index(directory: str | os.PathLike[str]) -> Path:
    """(Re)write ``index.html`` in ``directory``: a link to every other page there, by its
    title, so that audits written into one folder never replace each other."""
    out = Path(directory)
    pages = sorted(p for p in out.glob("*.html") if p.name != "index.html")
    links = []
    for page in pages:
        found = _TITLE.search(page.read_text(encoding="utf-8", errors="replace"))
        links.append((page.name, html.unescape(found.group(1)) if found else page.stem))
    index = Report(title="trustrec reports")
    index.add(Section("Pages in this folder").links(links))
    path = out / "index.html"
    path.write_text(index.render(), encoding="utf-8")
    return path
