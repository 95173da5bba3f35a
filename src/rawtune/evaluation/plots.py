"""PNG plots for evaluation reports: training curves, per-type F1 (NER), confusion matrix.

matplotlib is the optional `rawtune[plots]` extra, imported only inside these functions. Figures are
built as bare `matplotlib.figure.Figure` objects rather than through pyplot: PNG output renders
with Agg all the same, but nothing switches the process-wide backend (a notebook calling
`write_report` keeps its own) and no global figure registry has to be closed; a figure is freed
with its last reference. Each PNG is written to a temp name, fsynced and renamed into place.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("rawtune")
MAX_CONFUSION_LABELS = 50  # beyond this a matrix is unreadable as an image (report.json keeps it all)
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


def draw_all(out_dir: Path, task: str, metrics: dict[str, Any], history: list[dict[str, Any]]) -> dict | None:
    """{file name: path} of the plots drawn for this task; None when matplotlib is missing."""
    from rawtune.evaluation.metrics import primary_metric

    if not available():
        return None
    drawn = {
        "training_curves.png": training_curves(
            out_dir / "training_curves.png", history, primary_metric(task)[0]
        ),
    }
    if task == "ner":
        drawn["per_type_f1.png"] = per_type_f1(out_dir / "per_type_f1.png", metrics.get("per_type") or {})
    if "confusion" in metrics:
        drawn["confusion_matrix.png"] = confusion_matrix(
            out_dir / "confusion_matrix.png", metrics["confusion"]
        )
    return {name: path for name, path in drawn.items() if path is not None}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[Any], list[float]]:
    points = [(r["step"], r[key]) for r in records if _number(r.get(key)) and "step" in r]
    return [s for s, _ in points], [v for _, v in points]


def _save(fig: Any, path: Path) -> Path:
    from rawtune.runs.atomic import fsync_dir

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path


def training_curves(path: Path, history: list[dict[str, Any]], metric: str) -> Path | None:
    """Train and eval loss against step, and the eval `metric` in a second panel when logged."""
    from matplotlib.figure import Figure

    train = [r for r in history if r.get("kind") == "train"]
    evals: dict[str, list[dict[str, Any]]] = {}
    for r in history:
        if r.get("kind") == "eval":
            evals.setdefault(str(r.get("split", "eval")), []).append(r)
    losses = [("train loss", *_series(train, "loss"))]
    losses += [(f"{split} loss", *_series(recs, "loss")) for split, recs in evals.items()]
    scores = [(f"{split} {metric}", *_series(recs, metric)) for split, recs in evals.items()]
    losses, scores = [s for s in losses if s[1]], [s for s in scores if s[1]]
    if not losses and not scores:
        return None
    panels = [(name, series) for name, series in (("loss", losses), (metric, scores)) if series]
    fig = Figure(figsize=(5.5 * len(panels), 4))
    for ax, (ylabel, series) in zip(fig.subplots(1, len(panels), squeeze=False, sharex=True)[0], panels):
        for label, steps, values in series:
            ax.plot(steps, values, label=label, marker="o" if not label.startswith("train") else None)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def per_type_f1(path: Path, per_type: dict[str, dict[str, Any]]) -> Path | None:
    """Horizontal bars of entity F1 per type, labelled with F1 and gold support."""
    from matplotlib.figure import Figure

    if not per_type:
        return None
    types = list(per_type)
    f1 = [per_type[t]["f1"] for t in types]
    fig = Figure(figsize=(6, 1 + 0.4 * len(types)))
    ax = fig.subplots()
    bars = ax.barh(types, f1, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.3f} (n={per_type[t]['support']})" for t, v in zip(types, f1)], padding=3)
    ax.set_xlim(0, 1.25)
    ax.invert_yaxis()  # types read top-down in the report's (sorted) order
    ax.set_xlabel("entity F1 (strict)")
    return _save(fig, path)


def confusion_matrix(path: Path, confusion: dict[str, Any]) -> Path | None:
    """Counts as a heat map (rows gold, columns predicted), each cell annotated."""
    from matplotlib.figure import Figure

    labels, matrix = [str(lab) for lab in confusion["labels"]], confusion["matrix"]
    if not labels or len(labels) > MAX_CONFUSION_LABELS:
        return None
    n = len(labels)
    size = min(4 + 0.45 * n, 24)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels, rotation=90 if n > 6 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = max((max(row) for row in matrix), default=0)
    font = 9 if n <= 15 else 6
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if top and count > top / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=font)
    return _save(fig, path)
