"""The report page: one self-contained HTML file (inline CSS, images as base64 ``data:`` URIs, no script, no network).

A page is a title, a few facts and sections; a section holds blocks: :class:`Image` (PNG bytes), :class:`Table` (a
pandas DataFrame), :class:`Text` and :class:`Missing` (what is not there and why, so an absent chart is explained,
never silently dropped). Rendered with Jinja2, every value HTML-escaped.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from jinja2 import Environment


@dataclass
class Image:
    png: bytes
    alt: str
    caption: str = ""

    @property
    def src(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""
    digits: int = 4

    def cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows as strings (floats rounded to ``digits`` significant digits, NaN as empty)."""
        head = [str(c) for c in self.frame.columns]
        rows = [[_cell(v, self.digits) for v in row] for row in self.frame.itertuples(index=False)]
        return head, rows


@dataclass
class Text:
    text: str


@dataclass
class Missing:
    what: str
    reason: str


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)
    anchor: str = ""


def _cell(v: Any, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.{digits}g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.facts { color: #555; font-size: .9em; } .facts span { margin-right: 1.5em; }
nav a { margin-right: 1em; font-size: .9em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: .8em 0; display: inline-block; vertical-align: top; } figcaption { font-size: .8em; color: #555; }
img { max-width: 100%; border: 1px solid #eee; }
.missing { color: #8a6d3b; background: #fcf8e3; border: 1px solid #faebcc; padding: .4em .8em; font-size: .9em; }
.caption { font-size: .85em; color: #444; margin: .3em 0; }
</style></head>
<body>
<h1>{{ title }}</h1>
<p class="facts">{% for k, v in facts %}<span><b>{{ k }}</b>: {{ v }}</span>{% endfor %}</p>
<nav>{% for s in sections %}<a href="#{{ s.anchor }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s in sections %}
<section id="{{ s.anchor }}"><h2>{{ s.title }}</h2>
{% for b in s.blocks %}
{% if b.kind == "image" %}<figure><img src="{{ b.src }}" alt="{{ b.alt }}">
{% if b.caption %}<figcaption>{{ b.caption }}</figcaption>{% endif %}</figure>
{% elif b.kind == "table" %}{% if b.caption %}<h3>{{ b.caption }}</h3>{% endif %}
<table><thead><tr>{% for h in b.head %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in b.rows %}<tr>{% for c in row %}
<td{% if b.num[loop.index0] %} class="num"{% endif %}>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% elif b.kind == "text" %}<p class="caption">{{ b.text }}</p>
{% else %}<p class="missing">{{ b.what }}: not available ({{ b.reason }})</p>{% endif %}
{% endfor %}</section>
{% endfor %}
</body></html>
"""


def _block(b: Any) -> dict[str, Any]:
    if isinstance(b, Image):
        return {"kind": "image", "src": b.src, "alt": b.alt, "caption": b.caption}
    if isinstance(b, Table):
        head, rows = b.cells()
        num = [pd.api.types.is_numeric_dtype(t) for t in b.frame.dtypes]
        return {"kind": "table", "head": head, "rows": rows, "num": num, "caption": b.caption}
    if isinstance(b, Text):
        return {"kind": "text", "text": b.text}
    if isinstance(b, Missing):
        return {"kind": "missing", "what": b.what, "reason": b.reason}
    raise TypeError(f"not a report block: {type(b).__name__}")


def render(title: str, facts: list[tuple[str, str]], sections: list[Section]) -> str:
    """The whole page as one HTML string (UTF-8 when written)."""
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    secs = [
        {
            "title": s.title,
            "anchor": s.anchor or s.title.lower().replace(" ", "-"),
            "blocks": [_block(b) for b in s.blocks],
        }
        for s in sections
    ]
    return env.from_string(_TEMPLATE).render(title=title, facts=facts, sections=secs)


def images_in(sections: list[Section]) -> int:
    """Number of images on the page."""
    return sum(isinstance(b, Image) for s in sections for b in s.blocks)
