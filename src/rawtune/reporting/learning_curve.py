"""A learning curve (learning_curve.json): the task metric against the number of labeled training
examples, one line per starting model. The plot that shows what pretraining on raw text buys: the
gap between the `base` line and a DAPT/TAPT line at a given size, or how many fewer labels the
adapted model needs for the same score."""

from __future__ import annotations

from typing import Any

from rawtune.evaluation import charts
from rawtune.reporting.files import seq
from rawtune.reporting.markup import Raw, is_number, note, para, table
from rawtune.reporting.svg import chart


def learning_curve_block(curve: dict[str, Any] | None) -> Raw:
    """Chart and table of a learning_curve.json; empty when there is none."""
    if not isinstance(curve, dict):
        return Raw("")
    series = [s for s in seq(curve.get("series")) if isinstance(s, dict)]
    metric = str(curve.get("metric") or "metric")
    split = str(curve.get("split") or "dev")
    if not series:
        return note("The learning curve has no series yet.")
    caption = f"{split} {metric} against labeled training examples (log scale), one line per starting model"
    parts = [
        chart(charts.learning_curve, series, f"{split} {metric}", caption=caption),
        _table(series, metric),
    ]
    gain = _gain(series)
    if gain:
        parts.insert(0, para(gain))
    return Raw("".join(parts))


def points(series: dict[str, Any]) -> list[dict[str, Any]]:
    """The series' points that name their number of examples."""
    return [p for p in seq(series.get("points")) if isinstance(p, dict) and is_number(p.get("examples"))]


def _table(series: list[dict[str, Any]], metric: str) -> Raw:
    """One row per training-set size, one column per series."""
    sizes: dict[Any, dict[str, Any]] = {}
    for s in series:
        for p in points(s):
            row = sizes.setdefault(p.get("examples"), {"fraction": p.get("fraction")})
            row[str(s.get("name"))] = p.get("value")
    names = [str(s.get("name")) for s in series]
    ordered = sorted(sizes, key=lambda n: n if is_number(n) else float("inf"))
    rows = [[n, sizes[n].get("fraction"), *(sizes[n].get(name) for name in names)] for n in ordered]
    return table(["examples", "fraction", *(f"{n} {metric}" for n in names)], rows)


def _gain(series: list[dict[str, Any]]) -> str:
    """A sentence comparing each series with the first one at the smallest size both have."""
    if len(series) < 2:
        return ""
    first = {p.get("examples"): p.get("value") for p in points(series[0])}
    said = []
    for s in series[1:]:
        common = sorted(
            (p["examples"], p.get("value"), first[p["examples"]])
            for p in points(s)
            if p["examples"] in first and is_number(p.get("value")) and is_number(first[p["examples"]])
        )
        if common:
            n, v, b = common[0]
            said.append(
                f"{s.get('name')}: {v:.4f} vs {b:.4f} ({100 * (v - b):+.1f} points) with {n:,} examples"
            )
    if not said:
        return ""
    return f"Against {series[0].get('name')} at the smallest shared size — " + "; ".join(said) + "."
