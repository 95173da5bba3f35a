"""The report of one run: headline cards, then training curves, evaluation, the compression
comparison or pretraining summary, a learning curve, data, config, the model card and the raw
JSON files."""

from __future__ import annotations

import json
from typing import Any

from rawtune.evaluation import charts
from rawtune.reporting.data_sections import config_section, data_section
from rawtune.reporting.eval_sections import evaluation_section
from rawtune.reporting.files import dig, obj, seq
from rawtune.reporting.learning_curve import learning_curve_block
from rawtune.reporting.markup import (
    Num,
    Raw,
    card,
    cards,
    details,
    esc,
    is_number,
    kv_table,
    mb,
    ms,
    note,
    num,
    pre,
    seconds,
    section,
    sub,
    table,
)
from rawtune.reporting.modelcard import model_card
from rawtune.reporting.page import page
from rawtune.reporting.runinfo import RunInfo
from rawtune.reporting.svg import chart


def render_run(info: RunInfo) -> str:
    body = [headline(info)]
    if info.problems:
        body.append(note("Could not read: " + "; ".join(info.problems)))
    body += [
        training_section(info),
        pretrain_section(info),
        compression_section(info),
        section("Learning curve", learning_curve_block(info.learning_curve), anchor="curve")
        if info.learning_curve is not None
        else Raw(""),
        evaluation_section(info),
        data_section(info),
        config_section(info),
        model_card(info),
        raw_section(info),
    ]
    body = [b for b in body if b]
    toc = [(a, t) for a, t in TOC if f'id="{a}"' in "".join(body)]
    subtitle = Raw(" ".join(f"<span>{esc(s)}</span>" for s in subtitle_parts(info)))
    return page(f"{info.name}", subtitle, "\n".join(body), toc)


TOC = [
    ("training", "Training"),
    ("pretrain", "Pretraining"),
    ("compression", "Compression"),
    ("curve", "Learning curve"),
    ("evaluation", "Evaluation"),
    ("data", "Data"),
    ("config", "Config"),
    ("card", "Model card"),
    ("raw", "Raw files"),
]


def subtitle_parts(info: RunInfo) -> list[str]:
    parts = [info.stage, info.task or "", info.tuning_method or "", str(info.path)]
    return [p for p in parts if p]


def headline(info: RunInfo) -> Raw:
    status = info.status
    tone = "ok" if status == "complete" else "bad" if status in ("failed", "rejected") else "muted"
    items = [card("status", status, tone=tone)]
    dev, test = info.score("dev"), info.score("test")
    label = "validation loss" if info.stage == "pretrain" else f"dev {info.primary}"
    if dev is not None:
        items.append(card(label, dev, _best_step(info)))
    if test is not None:
        items.append(card(f"test {info.primary}", test))
    if info.size_mb is not None:
        items.append(card("model size", mb(info.size_mb), "weight files"))
    if info.latency_ms is not None:
        items.append(card("latency", ms(info.latency_ms), "batch 1, CPU"))
    gate = obj(info.metrics.get("gate"))
    if info.stage == "compress" and is_number(gate.get("speedup")):
        drop = gate.get("metric_drop_points")
        change = f"{-drop:+.2f} pts" if is_number(drop) else "—"
        items.append(
            card("vs parent", change, f"dev {info.primary}", tone="ok" if gate.get("accepted") else "bad")
        )
        items.append(card("speedup", f"{gate['speedup']:.2f}×", "batch-1 latency"))
    params = info.parameters
    if is_number(params.get("trainable")):
        items.append(card("trainable parameters", num(params["trainable"]), f"of {num(params.get('total'))}"))
    if info.train_seconds is not None:
        items.append(card("training time", seconds(info.train_seconds)))
    return cards(items)


def _best_step(info: RunInfo) -> str:
    best = dig(info.metrics, "train", "best_step") or info.metrics.get("best_step")
    return f"best step {best}" if best is not None else ""


def curve_metric(primary: str, evals: list[dict[str, Any]]) -> str:
    """The metric to plot beside the loss: the primary one, or for a language model (selected by
    loss) its masked/next-token accuracy."""
    if primary != "loss":
        return primary
    return "accuracy" if any("accuracy" in r for r in evals) else "loss"


def training_section(info: RunInfo) -> Raw:
    history = info.history
    if not history:
        return Raw("")
    evals = [r for r in history if r.get("kind") == "eval"]
    metric = curve_metric(info.primary, evals)
    curves = chart(
        charts.training_curves,
        [(info.name, history)],
        metric,
        caption="Training loss, eval loss and the eval metric against optimizer step",
    )
    keys = list(dict.fromkeys(k for k in ("loss", metric) if any(k in r for r in evals)))
    rows = [[r.get("step"), *(r.get(k) for k in keys)] for r in evals]
    parts = (
        [curves, details(f"Evaluations during training ({len(rows)})", table(["step", *keys], rows))]
        if rows
        else [curves]
    )
    train = obj(info.metrics.get("train"))
    facts = [
        (k, train.get(k))
        for k in ("examples", "features", "steps", "best_step", "examples_per_s", "tokens_per_s")
    ]
    if any(v is not None for _, v in facts):
        parts.append(kv_table([(k, v) for k, v in facts if v is not None]))
    return section("Training", *parts, anchor="training")


def pretrain_section(info: RunInfo) -> Raw:
    """Validation before and after (and after the head warm-up, when the head trained alone first),
    each phase, and a warning when adaptation made held-out text no easier to predict."""
    if info.stage != "pretrain" or not info.metrics:
        return Raw("")
    phases = [obj(p) for p in seq(info.metrics.get("phases"))]
    columns = [("before", obj(info.metrics.get("before")))]
    if phases:
        columns.append(("after head warm-up", obj(phases[0].get("after"))))
    columns.append(("after", obj(info.metrics.get("after"))))
    keys = [k for k in ("loss", "perplexity", "accuracy", "tokens") if any(k in c for _, c in columns)]
    rows = [[k, *(c.get(k) for _, c in columns)] for k in keys]
    facts = [
        (k, info.metrics.get(k)) for k in ("objective", "steps", "tokens_seen", "tokens_per_s", "best_step")
    ]
    warned = [
        Raw(f'<p><span class="badge warn">warning</span> {esc(w)}</p>')
        for w in seq(info.metrics.get("warnings"))
    ]
    return section(
        "Pretraining",
        *warned,
        table(["validation", *(name for name, _ in columns)], rows),
        _phases_table(phases),
        kv_table(facts),
        anchor="pretrain",
    )


PHASES = {
    "head": "head warm-up: the LM head alone (the checkpoint had none), the encoder frozen",
    "full": "the whole model",
}


def _phases_table(phases: list[dict[str, Any]]) -> Raw:
    if not phases:
        return Raw("")
    rows = [
        [
            PHASES.get(str(p.get("phase")), p.get("phase")),
            f"{p.get('first_step')}–{p.get('last_step')}",
            obj(p.get("before")).get("loss"),
            obj(p.get("after")).get("loss"),
            p.get("best_step"),
            "early (no improvement)" if p.get("stopped_early") else "step budget",
        ]
        for p in phases
    ]
    header = ["phase", "steps", "val loss before", "val loss after", "best step", "stopped"]
    return Raw(sub("Head warm-up, then the whole model", table(header, rows)))


def compression_section(info: RunInfo) -> Raw:
    m = info.metrics
    if info.stage != "compress" or not m.get("parent"):
        return Raw("")
    key = info.primary
    lat = obj(m.get("latency"))

    dev = (dig(m, "parent", "dev", key), dig(m, "dev", key))
    size, params = _measured(m, "size", "mb"), _measured(m, "size", "parameters")
    latency, rate = _measured(m, "latency", "latency_ms"), _measured(m, "latency", "throughput")
    rows = [
        [f"dev {key}", *dev, _delta(*dev)],
        ["size (MB)", *size, _ratio(*size, "smaller")],
        ["parameters", *params, _ratio(*params, "fewer")],
        ["latency, batch 1 (ms)", *latency, _ratio(*latency, "speedup")],
        [
            f"throughput, batch {lat.get('batch_size', '?')} (ex/s)",
            *rate,
            _ratio(rate[1], rate[0], "speedup"),
        ],
    ]
    parent = dig(m, "parent", "run") or info.manifest.get("parent") or "parent"
    parts = [
        note(f"Method: {info.tuning_method or m.get('method')}. Parent: {parent}."),
        table(["", "parent", "compressed", "change"], rows, digits=4),
        _gate(obj(m.get("gate")), lat),
    ]
    return section("Compressed vs parent", *parts, anchor="compression")


def _measured(m: dict[str, Any], part: str, field: str) -> tuple[Any, Any]:
    """(parent, compressed) values of metrics.json[part][parent | compressed][field]."""
    return dig(m, part, "parent", field), dig(m, part, "compressed", field)


def _delta(a: Any, b: Any) -> Num:
    return Num(f"{100 * (b - a):+.2f} points" if is_number(a) and is_number(b) else "—")


def _ratio(a: Any, b: Any, word: str) -> Num:
    """How many times smaller / faster: a / b."""
    return Num(f"{a / b:.2f}× {word}" if is_number(a) and is_number(b) and b else "—")


def _gate(gate: dict[str, Any], lat: dict[str, Any]) -> Raw:
    if not gate:
        return Raw("")
    verdict = (
        "accepted" if gate.get("accepted") else "rejected: " + "; ".join(map(str, seq(gate.get("failed"))))
    )
    text = (
        f"Gate {verdict}. Metric drop {num(gate.get('metric_drop_points'), 2)} points (limit "
        f"{num(gate.get('max_metric_drop'), 2)}), speedup {num(gate.get('speedup'), 2)}× (minimum "
        f"{num(gate.get('min_speedup'), 2)}). Timed with {lat.get('threads', '?')} threads, median of "
        f"{lat.get('repeats', '?')} repeats."
    )
    return note(text)


def raw_section(info: RunInfo) -> Raw:
    parts = []
    for name, data in (
        ("metrics.json", info.metrics),
        ("manifest.json", info.manifest),
        ("data_stats.json", info.data_stats),
        ("learning_curve.json", info.learning_curve),
    ):
        if data:
            parts.append(details(name, pre(json.dumps(data, indent=2, default=str))))
    return section("Raw files", *parts, anchor="raw")
