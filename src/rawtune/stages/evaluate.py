"""`rawtune evaluate RUN --data FILE`: the run's final model on a labeled file, with the same decode
path as prediction, written to RUN/eval/<name>/report.{json,md} and plots. RUN may be an
`export --onnx` directory (the ONNX model through onnxruntime; the report goes to DIR/eval/<name>/)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("rawtune")


def evaluate_run(
    run_path: str,
    data: str,
    *,
    name: str | None = None,
    batch_size: int = 32,
    out_root: Path | None = None,
    null_threshold: float | None = None,
    dtype: str | None = "auto",
) -> tuple[dict[str, Any], Path]:
    """Metrics of RUN's model on `data`, and the report directory (RUN/eval/<name>, or
    `out_root`/<name> when the report belongs elsewhere, e.g. to a pipeline's evaluate stage).
    `dtype` as `load_run`'s; "auto", as `predict` defaults to, scores the tags predict writes."""
    from rawtune.artifacts.run import load_run
    from rawtune.evaluation.report import write_report
    from rawtune.logs import setup_logging
    from rawtune.tasks.base import Inference

    setup_logging()
    pred = load_run(run_path, dtype=dtype)  # a run, or an ONNX export dir
    if null_threshold is not None:
        from rawtune.tasks.qa import set_null_threshold

        set_null_threshold(pred.task, null_threshold)
    labeled = pred.task.read(data)
    if not labeled.examples:
        from rawtune.errors import DataError

        raise DataError("no examples", file=data)
    pred.task.check_labels(pred.space, labeled, "evaluation data")
    metrics = pred.task.evaluate(pred.model, pred.tokenizer, labeled, pred.space, Inference(batch_size))
    name = name or re.sub(r"[^\w.-]+", "_", Path(data).name.split(".")[0]) or "data"
    out = Path(out_root if out_root is not None else _report_root(pred.run_path)) / name
    history = None
    write_report(
        out,
        task=pred.task.report_kind,
        metrics=metrics,
        title=f"{pred.task.name} — {Path(data).name}",
        history=history,
        meta={"run": str(pred.run_path), "data": data, "examples": len(labeled.examples)},
    )
    log.info("wrote %s", out / "report.md")
    return metrics, out


def _report_root(run_path: Path) -> Path:
    """RUN/eval, or for a Hugging Face Hub id (no directory of its own) ./eval/<the id's name>."""
    return run_path / "eval" if run_path.is_dir() else Path("eval") / re.sub(r"[^\w.-]+", "_", str(run_path))
