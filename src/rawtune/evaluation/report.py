"""Evaluation reports: `write_report` puts report.json, a self-contained report.md and PNG plots in a
directory. report.json is the machine record (every number, unrounded); report.md is for a person
and must make sense read alone: what was evaluated, the headline numbers, the per-type/per-class
tables and the plots beside it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rawtune.evaluation.metrics import format_token_report, primary_metric, report_kind

_TABLE_COLUMNS = ("precision", "recall", "f1", "support")
_PLOTS_HINT = "Plots skipped: matplotlib is not installed (`pip install 'rawtune[plots]'` draws them)."


def write_report(
    out_dir: Path,
    *,
    task: str,
    metrics: dict,
    title: str,
    history: list[dict] | None = None,
    meta: dict | None = None,
) -> dict[str, Path]:
    """Write report.json, report.md and plots into `out_dir`; return {file name: path} written.

    `task` is a report kind (a task's `report_kind`: ner, classification, multilabel, regression,
    qa, ...); `history` holds the metrics.jsonl records (`{"step", "kind": "train"|"eval", "split", "loss", ...}`) for the curves.
    """
    from rawtune.evaluation import plots
    from rawtune.runs.atomic import write_json, write_text

    primary_metric(task)  # an unknown task fails before anything is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics, meta = _plain(metrics), _plain(meta or {})
    pngs = plots.draw_all(out_dir, task, metrics, _plain(history or []))
    write_json(out_dir / "report.json", {"task": task, "title": title, "meta": meta, "metrics": metrics})
    write_text(out_dir / "report.md", render_markdown(task, metrics, title, meta, pngs))
    return {"report.json": out_dir / "report.json", "report.md": out_dir / "report.md", **(pngs or {})}


def _plain(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars become Python numbers, NaN/inf become None (strict JSON has no
    NaN, and a diverged loss must not make the report unreadable), paths become strings."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        obj = obj.item()  # numpy scalar / 0-d array
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return str(obj) if isinstance(obj, Path) else obj


# --- Markdown -------------------------------------------------------------------------------------
def render_markdown(
    task: str, metrics: dict[str, Any], title: str, meta: dict[str, Any], pngs: dict[str, Path] | None
) -> str:
    """The report.md text; `pngs` None means matplotlib was missing (the report says so)."""
    parts = [f"# {title}", f"Task: **{task}**"]
    if meta:
        parts.append("\n".join(f"- **{k}**: {_fmt(v)}" for k, v in meta.items()))
    parts.append(_headline(task, metrics))
    parts.append(report_kind(task).note)
    parts += _ner_sections(metrics)  # entity metrics: per type, per tag
    if "no_relation" in metrics and "per_class" in metrics:
        parts.append(
            _section("Per relation", _prf_table("relation", metrics["per_class"]), _relations_note(metrics))
        )
    elif "per_class" in metrics:
        note = "Macro F1 averages over labels seen in gold or predictions (support 0 and never predicted: left out)."
        parts.append(_section("Per class", _prf_table("label", metrics["per_class"]), note))
    if "confusion" in metrics:
        parts.append(_confusion_section(metrics["confusion"]))
    if metrics.get("samples"):
        rows = [[s["source"], s["target"], s["generated"]] for s in metrics["samples"]]
        parts.append(
            _section("Samples", _table(["source", "target", "generated"], rows), "The first examples.")
        )
    parts.append(_plots_section(pngs))
    return "\n\n".join(p for p in parts if p) + "\n"


def _relations_note(metrics: dict[str, Any]) -> str:
    return (
        f"Micro and macro F1 leave out `{metrics.get('no_relation')}` (its row is for reference only): a "
        "prediction counts when it is a relation and is correct when it is the gold one; macro F1 "
        "averages the relations present in gold or predictions."
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "n/a" if v is None else str(v)


def _cell(v: Any) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _section(heading: str, body: str, note: str = "") -> str:
    return "\n\n".join(p for p in (f"## {heading}", note, body) if p)


def _headline(task: str, metrics: dict[str, Any]) -> str:
    """Every scalar metric, the model-selection one first (n/a: undefined, e.g. a correlation with
    constant predictions)."""
    key, _ = primary_metric(task)
    scalars = {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float, str))}
    order = ([key] if key in scalars else []) + [k for k in scalars if k != key]
    rows = [[f"**{k}**" if k == key else k, scalars[k]] for k in order]
    return _section("Metrics", _table(["metric", "value"], rows))


def _prf_table(first: str, rows: dict[str, dict[str, Any]]) -> str:
    return _table(
        [first, *_TABLE_COLUMNS], [[name, *(r[c] for c in _TABLE_COLUMNS)] for name, r in rows.items()]
    )


def _ner_sections(metrics: dict[str, Any]) -> list[str]:
    out = []
    if "per_type" in metrics:
        note = (
            "Entity level, seqeval strict IOB2: an entity counts only with exact boundaries and type."
            if metrics["per_type"]
            else "No entities in gold or predictions."
        )
        out.append(_section("Per entity type", _prf_table("type", metrics["per_type"]), note))
    if "token_report" in metrics:
        text = f"```text\n{format_token_report(metrics['token_report'])}```"
        body = _prf_table("tag", metrics["token_report"]) + "\n\n" + text
        out.append(_section("Per tag (token level)", body, "Every word's tag scored on its own."))
    return out


def _confusion_section(confusion: dict[str, Any]) -> str:
    from rawtune.evaluation.charts import MAX_CONFUSION_LABELS

    labels, matrix = confusion["labels"], confusion["matrix"]
    if len(labels) > MAX_CONFUSION_LABELS:
        note = f"{len(labels)} labels: too many to show here; the full matrix is in report.json."
        return _section("Confusion matrix", "", note)
    rows = [[f"**{lab}**", *counts] for lab, counts in zip(labels, matrix)]
    return _section(
        "Confusion matrix", _table(["gold \\ predicted", *labels], rows), "Rows gold, columns predicted."
    )


def _plots_section(pngs: dict[str, Path] | None) -> str:
    if pngs is None:
        return _section("Plots", _PLOTS_HINT)
    if not pngs:
        return ""
    return _section(
        "Plots", "\n\n".join(f"![{name.removesuffix('.png').replace('_', ' ')}]({name})" for name in pngs)
    )
