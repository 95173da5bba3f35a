"""HTML building blocks for the reports: escaping, number formatting, tables, cards, sections and
the page shell with its inline stylesheet.

Every string that comes from a run (names, labels, config values, file paths) goes through `esc`;
only values wrapped in `Raw` (HTML this package built itself) are inserted as they are. Numbers are
formatted here and nowhere else, so a value reads the same in a card, a table and a comparison.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

NA = "—"


class Raw(str):
    """HTML built by this package: inserted without escaping."""


class Num(str):
    """A number already formatted (a percentage, "1.2 MB"): escaped, but aligned as a number."""


def esc(value: Any) -> str:
    return value if isinstance(value, Raw) else html.escape(str(value), quote=True)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def num(v: Any, digits: int = 4) -> str:
    """0.8123 for a float, 34,409 for an int, — for a missing or non-finite value."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return NA
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.{digits}f}"
    return NA if v is None else str(v)


def mb(v: Any) -> Num:
    return Num(f"{v:,.2f} MB" if is_number(v) else NA)


def ms(v: Any) -> Num:
    return Num(f"{v:,.2f} ms" if is_number(v) else NA)


def pct(v: Any, digits: int = 1) -> Num:
    return Num(f"{100 * v:.{digits}f} %" if is_number(v) else NA)


def seconds(v: Any) -> Num:
    if not is_number(v):
        return Num(NA)
    if v < 1:
        return Num(f"{v:.2g} s")
    if v < 120:
        return Num(f"{v:.1f} s")
    return Num(f"{v / 60:.1f} min" if v < 7200 else f"{v / 3600:.1f} h")


def cell(v: Any, digits: int = 4) -> str:
    """A table cell: numbers right-aligned in tabular figures, text escaped."""
    if is_number(v) or v is None or isinstance(v, Num):
        return f'<td class="num">{esc(v if isinstance(v, Num) else num(v, digits))}</td>'
    return f"<td>{esc(v)}</td>"


def _numeric(v: Any) -> bool:
    return is_number(v) or v is None or isinstance(v, Num)


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, digits: int = 4, cls: str = "") -> Raw:
    """A table; a header cell is right-aligned when its column holds numbers."""
    width = len(header)
    rows = [(list(r) + [None] * width)[:width] for r in rows]  # a damaged record cannot break the grid
    numeric = [bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(header))]
    head = "".join(f"<th{' class=num' if n else ''}>{esc(h)}</th>" for h, n in zip(header, numeric))
    body = "".join("<tr>" + "".join(cell(v, digits) for v in r) + "</tr>\n" for r in rows)
    return Raw(
        f'<div class="scroll"><table class="{esc(cls)}"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}</tbody></table></div>"
    )


def kv_table(pairs: Iterable[tuple[Any, Any]]) -> Raw:
    """A two-column table of name → value (no header)."""
    body = "".join(f"<tr><th>{esc(k)}</th>{cell(v)}</tr>\n" for k, v in pairs)
    return Raw(f'<div class="scroll"><table class="kv"><tbody>\n{body}</tbody></table></div>')


def card(label: str, value: Any, sub: Any = "", tone: str = "") -> Raw:
    shown = value if isinstance(value, str) else num(value)
    extra = f'<div class="sub">{esc(sub)}</div>' if sub else ""
    return Raw(
        f'<div class="card {esc(tone)}"><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(shown)}</div>{extra}</div>'
    )


def cards(items: Iterable[str]) -> Raw:
    items = [i for i in items if i]
    return Raw(f'<div class="cards">{"".join(items)}</div>') if items else Raw("")


def badge(status: Any) -> Raw:
    tone = {"complete": "ok", "skipped": "muted", "failed": "bad", "rejected": "bad", "running": "warn"}
    s = str(status or "unknown")
    return Raw(f'<span class="badge {tone.get(s, "muted")}">{esc(s)}</span>')


def section(title: str, *parts: str, anchor: str = "") -> Raw:
    body = "\n".join(p for p in parts if p)
    if not body:
        return Raw("")
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return Raw(f"<section{ident}>\n<h2>{esc(title)}</h2>\n{body}\n</section>")


def columns(*parts: str) -> Raw:
    """Side by side on a wide screen, stacked on a narrow one."""
    kept = [p for p in parts if p]
    return (
        Raw('<div class="cols">' + "".join(f"<div>{p}</div>" for p in kept) + "</div>") if kept else Raw("")
    )


def sub(title: str, *parts: str) -> Raw:
    body = "\n".join(p for p in parts if p)
    return Raw(f"<h3>{esc(title)}</h3>\n{body}") if body else Raw("")


def details(summary: str, body: str) -> Raw:
    """Folded away until clicked (the full config, raw JSON, long tables)."""
    return Raw(f"<details><summary>{esc(summary)}</summary>\n{body}\n</details>")


def pre(text: str, cls: str = "") -> Raw:
    return Raw(f'<pre class="{esc(cls)}">{esc(text)}</pre>')


def note(text: str) -> Raw:
    return Raw(f'<p class="note">{esc(text)}</p>')


def para(text: str) -> Raw:
    return Raw(f"<p>{esc(text)}</p>")


def bullets(items: Iterable[str]) -> Raw:
    lis = "".join(f"<li>{esc(i)}</li>" for i in items)
    return Raw(f"<ul>{lis}</ul>") if lis else Raw("")


def report_link(run: Path, page: Path) -> Raw | str:
    """A link from the page at `page` to RUN/report.html, relative so the files move together;
    NA when the run has no report."""
    target = run / "report.html"
    if not target.is_file():
        return NA
    href = Path(os.path.relpath(target.resolve(), page.resolve().parent)).as_posix()
    return link(href, "report")


def link(href: str, text: str) -> Raw:
    return Raw(f'<a href="{esc(href)}">{esc(text)}</a>')


def bar(fraction: float) -> Raw:
    """A small inline bar (0..1) for distribution tables."""
    width = max(0.0, min(1.0, fraction)) * 100
    return Raw(f'<span class="bar"><span style="width:{width:.1f}%"></span></span>')
