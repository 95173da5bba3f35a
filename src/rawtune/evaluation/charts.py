"""The chart library: each chart is one function from plain data (metrics.jsonl records, report.json
metrics, learning_curve.json series) to a matplotlib Figure, or None when there is nothing to draw.
Two renderers turn a figure into output: `evaluation.plots` writes PNG files beside an evaluation's
report.md, `reporting.svg` inlines SVG in report.html. Both draw the same charts, so a change of a
chart shows in both.

matplotlib is the optional `rawtune[plots]` extra, imported only inside these functions. Figures are
bare `matplotlib.figure.Figure` objects rather than pyplot: nothing switches the process-wide backend
(a notebook calling `write_report` keeps its own) and no global figure registry has to be closed; a
figure is freed with its last reference.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("rawtune")
MAX_POINTS = 1500
MAX_CONFUSION_LABELS = 50  # beyond this a matrix is unreadable as an image (report.json keeps it all)
COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"]
_warned = False


def available() -> bool:
    """Whether matplotlib imports; warns once per process when it does not."""
    global _warned
    try:
        # The package itself, not only the submodule: a blocked package must fail even when
        # matplotlib.figure is already cached in sys.modules.
        import matplotlib
        import matplotlib.figure  # noqa: F401
    except ImportError:
        if not _warned:
            log.warning("matplotlib is not installed; skipping report plots (pip install 'rawtune[plots]')")
            _warned = True
        return False
    return True


def figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def text(s: Any) -> str:
    """A label as matplotlib should print it: a `$` would otherwise start mathtext."""
    return str(s).replace("$", r"\$")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _points(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the records that have both; a long log is thinned to about MAX_POINTS
    (evenly, the last point kept) so a 100k-step run does not make a megabyte of SVG."""
    pts = [(r["step"], r[key]) for r in records if _finite(r.get(key)) and _finite(r.get("step"))]
    if len(pts) > MAX_POINTS:
        stride = -(-len(pts) // MAX_POINTS)
        pts = pts[::stride] + ([pts[-1]] if (len(pts) - 1) % stride else [])
    return [p[0] for p in pts], [p[1] for p in pts]


def _style(ax: Any, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(text(xlabel))
    ax.set_ylabel(text(ylabel))
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def training_curves(runs: list[tuple[str, list[dict[str, Any]]]], metric: str) -> Any:
    """Loss (train solid, eval dashed) and the eval `metric` against step; one colour per run.
    `runs` is [(label, metrics.jsonl records)]; with one run the labels say train / eval."""
    from matplotlib.ticker import MaxNLocator

    single = len(runs) == 1
    loss_lines, metric_lines = [], []
    for i, (name, history) in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        train = [r for r in history if r.get("kind") == "train"]
        evals = [r for r in history if r.get("kind") == "eval"]
        prefix = "" if single else f"{name} "
        marker = "." if len(train) < 30 else None  # a handful of logged steps: show each one
        loss_lines.append((f"{prefix}train loss", *_points(train, "loss"), color, "-", marker))
        loss_lines.append((f"{prefix}eval loss", *_points(evals, "loss"), color, "--", "o"))
        if metric != "loss":
            metric_lines.append((f"{prefix}eval {metric}", *_points(evals, metric), color, "-", "o"))
    panels = [
        (p, lines)
        for p, lines in (("loss", loss_lines), (metric, metric_lines))
        if any(ln[1] for ln in lines)
    ]
    if not panels:
        return None
    fig = figure(5.2 * len(panels), 3.6)
    for ax, (ylabel, lines) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for label, xs, ys, color, style, marker in lines:
            if xs:
                ax.plot(xs, ys, style, color=color, marker=marker, markersize=4, label=text(label))
        _style(ax, "step", ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, frameon=False)
    return fig


def per_type_bars(per_type: dict[str, dict[str, Any]], metric: str = "f1", label: str = "") -> Any:
    """Horizontal bars of F1 per entity type (or class), labelled with the value and support;
    `label` names the axis (default: the metric)."""
    rows = [(k, v) for k, v in per_type.items() if isinstance(v, dict) and _finite(v.get(metric))]
    if not rows:
        return None
    fig = figure(6.4, 0.9 + 0.38 * len(rows))
    ax = fig.subplots()
    values = [v[metric] for _, v in rows]
    bars = ax.barh([text(k) for k, _ in rows], values, color=COLORS[0])
    labels = [f"{v[metric]:.3f}  (n={v.get('support', '?')})" for _, v in rows]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_xlim(0, 1.2)
    ax.invert_yaxis()  # types read top-down in the report's (sorted) order
    _style(ax, label or metric, "")
    return fig


def confusion(conf: dict[str, Any]) -> Any:
    """Counts as a heat map, rows gold, columns predicted, every cell annotated; None beyond
    MAX_CONFUSION_LABELS labels."""
    labels, matrix = [text(lab) for lab in conf.get("labels") or []], conf.get("matrix") or []
    n = len(labels)
    if not n or n > MAX_CONFUSION_LABELS or len(matrix) != n:
        return None
    size = min(3.2 + 0.42 * n, 14)
    fig = figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    slanted = n > 6 or max(len(lab) for lab in labels) > 7
    ax.set_xticks(range(n), labels, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = max((max(row) for row in matrix if row), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if top and count > top / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8 if n <= 15 else 6)
    return fig


def learning_curve(series: list[dict[str, Any]], metric: str) -> Any:
    """The metric against the number of labeled examples (log x), one line per series."""
    from matplotlib.ticker import NullFormatter

    sizes: set[float] = set()
    fig = figure(6.8, 4.0)
    ax = fig.subplots()
    for i, s in enumerate(series):
        pts = sorted(
            (p["examples"], p["value"])
            for p in (s.get("points") if isinstance(s.get("points"), list) else [])
            if isinstance(p, dict)
            and _finite(p.get("examples"))
            and p["examples"] > 0
            and _finite(p.get("value"))
        )
        if pts:
            sizes.update(x for x, _ in pts)
            ax.plot(*zip(*pts), marker="o", color=COLORS[i % len(COLORS)], label=text(s.get("name", i)))
    if not sizes:
        return None
    ax.set_xscale("log")
    ticks = sorted(sizes)
    ax.set_xticks(ticks, [f"{x:,.0f}" for x in ticks], rotation=45 if len(ticks) > 6 else 0)
    ax.xaxis.set_minor_formatter(NullFormatter())
    _style(ax, "labeled training examples (log scale)", metric)
    ax.legend(frameon=False)
    return fig


def metric_bars(names: list[str], values: list[float | None], metric: str, kinds: list[str]) -> Any:
    """One bar per stage/run for the primary metric, coloured by stage kind."""
    rows = [(n, v, k) for n, v, k in zip(names, values, kinds) if _finite(v)]
    if not rows:
        return None
    palette = {k: COLORS[i % len(COLORS)] for i, k in enumerate(dict.fromkeys(k for _, _, k in rows))}
    fig = figure(6.4, 0.9 + 0.42 * len(rows))
    ax = fig.subplots()
    bars = ax.barh(
        [text(n) for n, _, _ in rows], [v for _, v, _ in rows], color=[palette[k] for *_, k in rows]
    )
    ax.bar_label(bars, labels=[f"{v:.4f}" for _, v, _ in rows], padding=3, fontsize=8)
    top = max(v for _, v, _ in rows)
    ax.set_xlim(0, top * 1.25 if top > 0 else 1)
    ax.invert_yaxis()
    _style(ax, metric, "")
    if len(palette) > 1:
        from matplotlib.patches import Patch

        handles = [Patch(color=c, label=text(k)) for k, c in palette.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=8)
    return fig
