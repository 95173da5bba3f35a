"""The PNG renderer of the chart library (`evaluation.charts`): the plots written beside an
evaluation's report.md (training curves, per-type F1, confusion matrix).

Each PNG is written to a temp name, fsynced and renamed into place, so a crash never leaves half an
image under the final name. Without matplotlib nothing is drawn and `draw_all` says so with None.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rawtune.evaluation import charts


def draw_all(out_dir: Path, task: str, metrics: dict[str, Any], history: list[dict[str, Any]]) -> dict | None:
    """{file name: path} of the plots drawn for this task; None when matplotlib is missing."""
    from rawtune.evaluation.metrics import primary_metric

    if not charts.available():
        return None
    figures = {"training_curves.png": charts.training_curves([("", history)], primary_metric(task)[0])}
    if "per_type" in metrics:
        figures["per_type_f1.png"] = charts.per_type_bars(
            metrics["per_type"] or {}, label="entity F1 (strict)"
        )
    if "confusion" in metrics:
        figures["confusion_matrix.png"] = charts.confusion(metrics["confusion"])
    return {name: to_png(fig, out_dir / name) for name, fig in figures.items() if fig is not None}


def to_png(fig: Any, path: Path) -> Path:
    """`fig` as a PNG file at `path`, written atomically."""
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
