"""What a finished fine-tuning run reports: metrics.json's summary, RUN/eval/<split>/report.{json,md}
with plots for each evaluated split, and RUN/eval/report.md linking them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rawtune.runs.atomic import write_text
from rawtune.runs.rundir import RunDir


def summary(
    ft: Any, final: dict[str, Any], result: Any, n_features: int, select: tuple[str, bool]
) -> dict[str, Any]:
    """metrics.json: the final scores of each split, the training record and the selection metric."""
    st = result.state
    return {
        "task": ft.task.name,
        **final,
        "train": {
            "examples": len(ft.splits["train"].examples),
            "features": n_features,
            "steps": st["step"],
            "total_steps": result.total_steps,
            "best_step": st["best_step"],
            "train_seconds": st["train_seconds"],
            "examples_per_s": _rate(st),
            "tokens_per_s": st["tokens_seen"] / st["train_seconds"] if st["train_seconds"] else 0.0,
            "resumed_from": result.resumed_from,
            "parameters": ft.tuned.parameters,
        },
        "selected_by": {"metric": select[0], "greater_is_better": select[1]},
    }


def write_reports(
    run: RunDir, task: Any, splits: dict[str, Any], final: dict[str, Any], model_ref: str, best: int | None
) -> None:
    """RUN/eval/<split>/report.{json,md} + plots for each evaluated split, and RUN/eval/report.md."""
    write_split_reports(run, final, splits, task.report_kind, task.name, model_ref, best_step=best)
    if final:
        write_text(run.eval_dir / "report.md", _index(task, final, run))


def write_split_reports(
    run: RunDir,
    final: dict[str, Any],
    splits: dict[str, Any],
    kind: str,
    title: str,
    model_ref: str,
    **meta: Any,
) -> None:
    """RUN/eval/<split>/report.{json,md} + plots for each split in `final` (its metrics), titled
    "<title> — <split> (<file>)", with the run's training history."""
    from rawtune.evaluation.report import write_report

    history = run.read_metrics()
    for split, metrics in final.items():
        data = splits[split]
        write_report(
            run.eval_dir / split,
            task=kind,
            metrics=metrics,
            title=f"{title} — {split} ({Path(data.file).name})",
            history=history,
            meta={"model": model_ref, "data": data.file, "examples": len(data.examples), **meta},
        )


def fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _rate(st: dict[str, Any]) -> float:
    """Training examples (windows, for long inputs) per second of training."""
    return st.get("samples_seen", 0) / st["train_seconds"] if st["train_seconds"] else 0.0


def _index(task: Any, final: dict[str, Any], run: RunDir) -> str:
    key = task.primary[0]
    lines = [f"# {task.name}: {run.path.name}", "", f"| split | {key} | loss | report |", "|---|---|---|---|"]
    for split, m in final.items():
        lines.append(f"| {split} | {fmt(m.get(key))} | {fmt(m.get('loss'))} | [{split}]({split}/report.md) |")
    return "\n".join(lines) + "\n"
