"""The SVG renderer of the chart library (`evaluation.charts`): a chart as inline SVG in report.html.

Figures are written with `svg.fonttype: none` so text stays text (smaller, selectable, found by
a search in the page). What the HTML page does not need is stripped: the XML prolog and doctype,
the RDF metadata block and the namespace declarations (the HTML parser knows inline SVG), so no
URL of any kind ends up in the report. A chart that fails to draw is replaced by a note; it never
costs the rest of the report.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from typing import Any

from rawtune.evaluation import charts
from rawtune.reporting.markup import Raw, esc, note

log = logging.getLogger("rawtune")
MISSING = "Chart not drawn: matplotlib is not installed (pip install 'rawtune[plots]')."
_STRIP = [
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*", re.IGNORECASE),
    re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
]


def to_svg(fig: Any) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 10}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    for pattern in _STRIP:
        text = pattern.sub("", text)
    return text.replace("xlink:href=", "href=").strip()


def chart(draw: Callable[..., Any], *args: Any, caption: str = "", **kwargs: Any) -> Raw:
    """`draw(*args, **kwargs)` returns a Figure (or None: nothing to draw); the figure as inline SVG
    with its caption, a note when matplotlib is missing, or a note naming the error."""
    if not charts.available():
        return note(MISSING)
    try:
        fig = draw(*args, **kwargs)
        if fig is None:
            return Raw("")
        svg = to_svg(fig)
    except Exception as e:  # a broken chart must not cost the report
        log.warning("report chart %s failed: %s", getattr(draw, "__name__", draw), e)
        return note(f"Chart not drawn ({type(e).__name__}: {e}).")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Raw(f'<figure role="img">{svg}{cap}</figure>')
