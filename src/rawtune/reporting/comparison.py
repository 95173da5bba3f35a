"""A page comparing several runs: one row per run (dev and test metric, size, latency, trainable
parameters, tuning method), the dev metric as bars, F1 per entity type (or class) side by side and
the training curves overlaid."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rawtune.evaluation import charts
from rawtune.reporting.files import dig
from rawtune.reporting.markup import (
    NA,
    Raw,
    badge,
    card,
    cards,
    esc,
    is_number,
    mb,
    ms,
    note,
    pct,
    report_link,
    seconds,
    section,
    table,
)
from rawtune.reporting.page import page
from rawtune.reporting.runinfo import RunInfo
from rawtune.reporting.svg import chart


def run_labels(infos: list[RunInfo]) -> list[str]:
    """Each run's directory name, with its parent directory's when two runs share a name."""
    names = [i.name for i in infos]
    repeated = {n for n, c in Counter(names).items() if c > 1}
    return [f"{i.path.resolve().parent.name}/{i.name}" if i.name in repeated else i.name for i in infos]


def render_comparison(infos: list[RunInfo], output: Path) -> str:
    labels = run_labels(infos)
    metric = Counter(i.primary for i in infos).most_common(1)[0][0]
    body = [
        _headline(infos, labels, metric),
        _summary(infos, labels, output, metric),
        _per_type(infos, labels),
    ]
    histories = [(label, i.history) for label, i in zip(labels, infos) if i.history]
    if histories:
        curves = chart(
            charts.training_curves,
            histories,
            metric,
            caption="Training curves overlaid: solid train loss, dashed eval loss",
        )
        body.append(section("Training curves", curves, anchor="curves"))
    problems = [f"{label}: {'; '.join(i.problems)}" for label, i in zip(labels, infos) if i.problems]
    if problems:
        body.append(note("Could not read: " + " | ".join(problems)))
    subtitle = Raw(" ".join(f"<span>{esc(label)}</span>" for label in labels))
    return page(f"Comparison of {len(infos)} runs", subtitle, "\n".join(b for b in body if b))


def _headline(infos: list[RunInfo], labels: list[str], metric: str) -> Raw:
    scored = [
        (i.score("dev"), label)
        for i, label in zip(infos, labels)
        if i.primary == metric and i.score("dev") is not None
    ]
    if not scored:
        return Raw("")
    greater = metric not in ("loss", "mse", "mae", "perplexity")
    best, name = (max if greater else min)(scored)
    items = [card(f"best dev {metric}", best, name, tone="ok"), card("runs", str(len(infos)))]
    sizes = [(i.size_mb, label) for i, label in zip(infos, labels) if i.size_mb is not None]
    if sizes:
        small, which = min(sizes)
        items.append(card("smallest model", mb(small), which))
    return cards(items)


def _summary(infos: list[RunInfo], labels: list[str], output: Path, metric: str) -> Raw:
    header = [
        "run",
        "stage",
        "task",
        "tuning",
        "status",
        "metric",
        "dev",
        "test",
        "size",
        "latency",
        "trainable",
        "% trainable",
        "train time",
        "report",
    ]
    rows = []
    for label, i in zip(labels, infos):
        p = i.parameters
        rows.append(
            [
                label,
                i.stage,
                i.task or NA,
                i.tuning_method or NA,
                badge(i.status),
                i.primary,
                i.score("dev"),
                i.score("test"),
                mb(i.size_mb),
                ms(i.latency_ms),
                p.get("trainable"),
                pct(p["percent"] / 100, 2) if is_number(p.get("percent")) else pct(None),
                seconds(i.train_seconds),
                report_link(i.path, output),
            ]
        )
    bars = chart(
        charts.metric_bars,
        labels,
        [i.score("dev") if i.primary == metric else None for i in infos],  # one metric per chart
        metric,
        [i.stage for i in infos],
        caption=f"Dev {metric} per run",
    )
    return section("Runs", table(header, rows), bars, anchor="runs")


def _per_type(infos: list[RunInfo], labels: list[str]) -> Raw:
    """F1 per entity type (NER) or class, one column per run that has them."""
    columns = []
    for label, i in zip(labels, infos):
        dev = i.split_metrics("dev")
        per = dev.get("per_type") or dev.get("per_class")
        if isinstance(per, dict) and per:
            columns.append((label, per))
    if not columns:
        return Raw("")
    names = list(dict.fromkeys(n for _, per in columns for n in per))
    rows = []
    for n in names:
        values = [dig(per, n, "f1") for _, per in columns]
        support = next((dig(per, n, "support") for _, per in columns if n in per), None)
        rows.append([n, support, *values])
    head = ["type / class", "dev support", *(f"{label} F1" for label, _ in columns)]
    return section("Dev F1 per entity type / class", table(head, rows), anchor="per-type")
