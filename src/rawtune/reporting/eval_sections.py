"""The evaluation part of a run report: per split, the headline metrics, per entity type (NER) or
per class, the per-tag token report and the confusion matrix, as tables and charts."""

from __future__ import annotations

from typing import Any

from rawtune.evaluation import charts
from rawtune.reporting.files import seq
from rawtune.reporting.markup import Raw, columns, details, esc, is_number, note, pre, section, sub, table
from rawtune.reporting.runinfo import RunInfo
from rawtune.reporting.svg import chart

PRF = ("precision", "recall", "f1", "support")
AVG_ROWS = ("micro avg", "macro avg", "weighted avg")
MAX_CONFUSION = 30


def evaluation_section(info: RunInfo) -> Raw:
    splits = _splits(info)
    if not splits:
        if info.stage in ("finetune", "compress"):
            return section("Evaluation", note("No evaluation recorded for this run."), anchor="evaluation")
        return Raw("")
    parts = [_split_block(info, split, metrics, title) for split, metrics, title in splits]
    return section("Evaluation", *parts, anchor="evaluation")


def _splits(info: RunInfo) -> list[tuple[str, dict[str, Any], str]]:
    """(split, metrics, title) from eval/*/report.json, else from metrics.json dev/test."""
    if info.evals:
        return [(s, r["metrics"], str(r.get("title") or s)) for s, r in info.evals.items()]
    out = []
    for split in ("dev", "test"):
        m = info.metrics.get(split)
        if isinstance(m, dict) and m and info.stage != "pretrain":
            out.append((split, m, split))
    return out


def scalars(metrics: dict[str, Any], primary: str) -> list[tuple[str, Any]]:
    """Every scalar metric, the primary one first."""
    flat = [(k, v) for k, v in metrics.items() if is_number(v) or v is None]
    return sorted(flat, key=lambda kv: kv[0] != primary)


def _split_block(info: RunInfo, split: str, metrics: dict[str, Any], title: str) -> Raw:
    rows = scalars(metrics, info.primary)
    head = table(["metric", "value"], [[f"{k} ★" if k == info.primary else k, v] for k, v in rows])
    per = Raw("")
    if isinstance(metrics.get("per_type"), dict):
        per = _prf_block("Per entity type (strict, entity level)", "type", metrics["per_type"])
    elif isinstance(metrics.get("per_class"), dict):
        per = _prf_block("Per class", "label", metrics["per_class"])
    parts = [note(title) if title != split else Raw(""), columns(Raw("<h4>Metrics</h4>" + head), per)]
    second = []
    if isinstance(metrics.get("token_report"), dict):
        second.append(token_report_block(metrics["token_report"]))
    if isinstance(metrics.get("confusion"), dict):
        second.append(confusion_block(metrics["confusion"]))
    elif info.task_info is not None and info.task_info.entities:
        second.append(
            note("No confusion matrix in this run's metrics (runs before rawtune recorded one for NER).")
        )
    parts.append(columns(*second))
    return sub(split, *parts)


def prf_rows(per: dict[str, dict[str, Any]]) -> list[list[Any]]:
    return [[name, *(r.get(c) for c in PRF)] for name, r in per.items() if isinstance(r, dict)]


def _prf_block(title: str, first: str, per: dict[str, dict[str, Any]]) -> Raw:
    if not per:
        return note(f"{title}: nothing in gold or predictions.")
    bars = chart(charts.per_type_bars, per, caption="F1 and gold support")
    return Raw(f"<h4>{esc(title)}</h4>" + table([first, *PRF], prf_rows(per)) + bars)


def token_report_block(report: dict[str, dict[str, Any]]) -> Raw:
    """The per-tag CoNLL token report: every tag scored on its own, averages last."""
    tags = {k: v for k, v in report.items() if k not in AVG_ROWS}
    avgs = {k: report[k] for k in AVG_ROWS if k in report}
    rows = prf_rows(tags) + prf_rows(avgs)
    body = table(["tag", *PRF], rows)
    try:
        from rawtune.evaluation.metrics import format_token_report

        text = details("As text (sklearn classification_report layout)", pre(format_token_report(report)))
    except (KeyError, TypeError, ValueError):
        text = Raw("")
    return Raw("<h4>Per tag (token level)</h4>" + body + text)


def confusion_block(conf: dict[str, Any]) -> Raw:
    labels, matrix = [str(x) for x in seq(conf.get("labels"))], seq(conf.get("matrix"))
    if not labels or len(matrix) != len(labels) or not all(isinstance(row, list) for row in matrix):
        return Raw("")
    if len(labels) > MAX_CONFUSION:
        return note(f"Confusion matrix: {len(labels)} labels, too many to show; it is in report.json.")
    rows = [[f"{lab}", *row] for lab, row in zip(labels, matrix)]
    grid = table(["gold \\ predicted", *labels], rows, cls="confusion")
    heat = chart(charts.confusion, conf, caption="Confusion matrix: rows gold, columns predicted")
    return Raw("<h4>Confusion matrix</h4>" + grid + heat)
