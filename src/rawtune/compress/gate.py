"""The accuracy gate: a compressed model is accepted only if its task metric dropped by at most
`max_metric_drop` points (metric x 100 for scores in [0, 1]) and it is at least `min_speedup` times
faster at batch 1 than its parent."""

from __future__ import annotations

from typing import Any


def check(
    parent: dict[str, Any],
    child: dict[str, Any],
    *,
    metric: str,
    greater: bool,
    max_metric_drop: float | None,
    min_speedup: float | None,
) -> tuple[dict[str, Any], list[str]]:
    """(gate record, failed bounds as sentences); `parent`/`child` hold `metric` and `latency_ms`."""
    drop = (parent[metric] - child[metric]) * 100 * (1 if greater else -1)
    speedup = parent["latency_ms"] / child["latency_ms"] if child["latency_ms"] > 0 else float("inf")
    failed = []
    if max_metric_drop is not None and drop > max_metric_drop:
        failed.append(
            f"{metric} dropped {drop:.2f} points ({parent[metric]:.4f} -> {child[metric]:.4f}), "
            f"more than --max-metric-drop {max_metric_drop:g}"
        )
    if min_speedup is not None and speedup < min_speedup:
        failed.append(
            f"batch-1 speedup {speedup:.2f}x ({parent['latency_ms']:.2f} -> {child['latency_ms']:.2f} ms) "
            f"is below --min-speedup {min_speedup:g}"
        )
    record = {
        "metric": metric,
        "metric_drop_points": round(drop, 4),
        "speedup": round(speedup, 4),
        "max_metric_drop": max_metric_drop,
        "min_speedup": min_speedup,
        "accepted": not failed,
        "failed": failed,
    }
    return record, failed
