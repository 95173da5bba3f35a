"""The report of a whole pipeline (ROOT/pipeline.json): the stage table, the lineage, the primary
dev metric across fine-tuning and compression stages, stage-to-stage comparisons (what DAPT/TAPT,
PEFT or compression changed) and the learning curves, with a link to each stage's own report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rawtune.evaluation import charts
from rawtune.reporting.files import obj, seq
from rawtune.reporting.learning_curve import learning_curve_block
from rawtune.reporting.lineage import lineage_svg
from rawtune.reporting.markup import (
    NA,
    Num,
    Raw,
    badge,
    card,
    cards,
    esc,
    is_number,
    mb,
    ms,
    note,
    num,
    report_link,
    seconds,
    section,
    sub,
    table,
)
from rawtune.reporting.page import page
from rawtune.reporting.runinfo import RunInfo
from rawtune.reporting.svg import chart

SCORED = ("finetune", "compress")


def stage_runs(root: Path, spec: dict[str, Any]) -> list[tuple[dict[str, Any], RunInfo | None]]:
    """Each stage with its run directory read (None when the stage has not written one yet)."""
    out = []
    for stage in seq(spec.get("stages")):
        if not isinstance(stage, dict):
            continue
        rel = stage.get("run")
        path = root / str(rel) if rel else None
        out.append((stage, RunInfo.load(path) if path is not None and path.is_dir() else None))
    return out


def render_pipeline(
    root: Path, spec: dict[str, Any], stages: list[tuple[dict[str, Any], RunInfo | None]], out: Path
) -> str:
    """The page to be written at `out` (its links to the stage reports are relative to it)."""
    body = [
        _headline(spec, stages),
        section("Stages", _stage_table(stages, out), anchor="stages"),
        section(
            "Lineage",
            Raw(f"<figure>{lineage_svg([s for s, _ in stages])}</figure>"),
            anchor="lineage",
        ),
        _choices(stages),
        _comparison(stages),
        _curves(stages),
    ]
    subtitle = Raw(f"<span>pipeline</span><span>{esc(root)}</span>")
    toc = [
        ("stages", "Stages"),
        ("choice", "What each option bought"),
        ("lineage", "Lineage"),
        ("compare", "Comparison"),
        ("curves", "Learning curves"),
    ]
    html = "\n".join(b for b in body if b)
    return page(
        str(spec.get("name") or root.name), subtitle, html, [t for t in toc if f'id="{t[0]}"' in html]
    )


def _headline(spec: dict[str, Any], stages: list[tuple[dict[str, Any], RunInfo | None]]) -> Raw:
    status = str(spec.get("status") or "unknown")
    done = sum(1 for s, _ in stages if s.get("status") in ("complete", "skipped"))
    tone = "ok" if status == "complete" else "bad" if status == "failed" else "muted"
    items = [card("pipeline", status, tone=tone), card("stages done", f"{done} / {len(stages)}")]
    scored = [
        (info.score("dev"), str(s.get("name")), info.primary)
        for s, info in stages
        if info is not None and s.get("kind") in SCORED and info.score("dev") is not None
    ]
    if scored:
        best, name, metric = max(scored)
        items.append(card(f"best dev {metric}", best, name, tone="ok"))
    total = sum(s["seconds"] for s, _ in stages if is_number(s.get("seconds")))
    items.append(card("time", seconds(total)))
    return cards(items)


def _metric_cell(info: RunInfo | None) -> Any:
    if info is None or info.score("dev") is None:
        return None
    label = "val loss" if info.stage == "pretrain" else info.primary
    return Num(f"{num(info.score('dev'))} {label}")


def _stage_table(stages: list[tuple[dict[str, Any], RunInfo | None]], out: Path) -> Raw:
    header = ["stage", "kind", "from", "status", "time", "dev metric", "size", "latency", "report"]
    rows = []
    for s, info in stages:
        status = "skipped" if s.get("skipped") and s.get("status") == "complete" else s.get("status")
        rows.append(
            [
                s.get("name"),
                s.get("kind"),
                ", ".join(map(str, s.get("sources") or [])) or s.get("parent") or NA,
                badge(status),
                seconds(s.get("seconds")),
                _metric_cell(info),
                mb(info.size_mb if info else None),
                ms(info.latency_ms if info else None),
                report_link(info.path, out) if info is not None else NA,
            ]
        )
    missing = [str(s.get("name")) for s, info in stages if info is None and s.get("status") != "pending"]
    extra = note(f"No run directory yet for: {', '.join(missing)}.") if missing else Raw("")
    return Raw(table(header, rows) + extra)


def _comparison(stages: list[tuple[dict[str, Any], RunInfo | None]]) -> Raw:
    scored = [(s, info) for s, info in stages if info is not None and s.get("kind") in SCORED]
    if not scored:
        return Raw("")
    by_name = {str(s.get("name")): (s, info) for s, info in stages}
    metric = scored[0][1].primary
    bars = chart(
        charts.metric_bars,
        [str(s.get("name")) for s, _ in scored],
        [i.score("dev") for _, i in scored],
        metric,
        [str(s.get("kind")) for s, _ in scored],
        caption=f"Dev {metric} per stage",
    )
    rows = []
    for s, info in scored:
        parent = by_name.get(str(s.get("parent")))
        p_info = parent[1] if parent else None
        p_score = p_info.score("dev") if p_info is not None and p_info.stage in SCORED else None
        delta = (
            Num(f"{100 * (info.score('dev') - p_score):+.2f} points")
            if is_number(p_score) and is_number(info.score("dev"))
            else Num(NA)
        )
        rows.append(
            [
                s.get("name"),
                s.get("kind"),
                _chain(str(s.get("name")), by_name),
                info.tuning_method or NA,
                info.score("dev"),
                info.score("test"),
                delta,
                mb(info.size_mb),
                ms(info.latency_ms),
                info.parameters.get("trainable"),
            ]
        )
    header = [
        "stage",
        "kind",
        "built on",
        "method",
        f"dev {metric}",
        f"test {metric}",
        "vs parent",
        "size",
        "latency",
        "trainable",
    ]
    text = note(
        "“built on” is the chain of stages under each model: fine-tuning runs built on different "
        "pretraining stages show what DAPT/TAPT bought; a compressed stage is compared with its parent."
    )
    return section("Comparison of stages", bars, table(header, rows), text, anchor="compare")


def _chain(name: str, by_name: dict[str, tuple[dict[str, Any], RunInfo | None]]) -> str:
    chain, seen = [], {name}
    parent = by_name[name][0].get("parent")
    while parent is not None and str(parent) not in seen:
        chain.append(str(parent))
        seen.add(str(parent))
        parent = by_name[str(parent)][0].get("parent") if str(parent) in by_name else None
    return " ← ".join(chain) if chain else "base model"


def _curves(stages: list[tuple[dict[str, Any], RunInfo | None]]) -> Raw:
    blocks = [
        sub(str(s.get("name")), learning_curve_block(info.learning_curve))
        for s, info in stages
        if info is not None and info.learning_curve is not None
    ]
    return section("Learning curves", *blocks, anchor="curves") if blocks else Raw("")


def _choices(stages: list[tuple[dict[str, Any], RunInfo | None]]) -> Raw:
    """Each `choose` stage: every option's dev (and test) metric, its gain over the baseline, the
    time it cost beyond the baseline, the winner and why."""
    blocks = [
        _choice_block(s, info, stages)
        for s, info in stages
        if s.get("kind") == "choose" and info is not None and info.metrics.get("options")
    ]
    if not blocks:
        return Raw("")
    text = note(
        "Each option is a way to use the raw text, trained and scored on the same dev set; the "
        "baseline (listed first) is fine-tuning alone and wins ties. Time: the option's own stages "
        "beyond what the baseline needs (its pretraining, its fine-tuning or self-training rounds)."
    )
    return section("What each option bought", *blocks, text, anchor="choice")


def _choice_block(
    stage: dict[str, Any], info: RunInfo, stages: list[tuple[dict[str, Any], RunInfo | None]]
) -> Raw:
    m = info.metrics
    metric, base, won = m.get("metric"), m.get("baseline"), obj(m.get("winner")).get("name")
    entries = {str(s.get("name")): s for s, _ in stages}
    base_cost = _needs(str(base), entries)
    rows = []
    for o in seq(m.get("options")):
        o = obj(o)
        name = str(o.get("name"))
        extra = _needs(name, entries) - base_cost if name != base else {name}
        cost = [entries[n].get("seconds") for n in extra if n in entries]
        rows.append(
            [
                Raw(f'{esc(name)} <span class="badge ok">winner</span>' if name == won else esc(name)),
                _chain(name, {n: (e, None) for n, e in entries.items()}),
                o.get("value"),
                Num("baseline") if name == base else _points(o.get("gain"), o.get("value")),
                o.get("test"),
                seconds(sum(c for c in cost if is_number(c)) if cost else None),
            ]
        )
    header = ["option", "built on", f"dev {metric}", f"vs {base}", f"test {metric}", "time"]
    why = Raw(f"<p>Kept: <strong>{esc(won)}</strong>. Why: {esc(m.get('reason', ''))}.</p>")
    return Raw(sub(str(stage.get("name")), table(header, rows), why))


def _points(gain: Any, value: Any) -> Num:
    if not is_number(gain):
        return Num(NA)
    return Num(f"{100 * gain:+.2f} points" if is_number(value) and 0 <= value <= 1 else f"{gain:+.4f}")


def _needs(name: str, entries: dict[str, dict[str, Any]]) -> set[str]:
    """The stage and every stage it reads from (`from` and `${...}`), transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in entries:
            continue
        seen.add(n)
        e = entries[n]
        todo += [str(x) for x in [*seq(e.get("sources")), *seq(e.get("uses"))]]
    return seen
