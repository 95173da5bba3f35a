"""The compress run's summary: the parent and the compressed model side by side on the dev data
(the task metric, size on disk and in parameters, CPU latency at batch 1 and throughput at batch N)
and the gate's verdict on them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from rawtune.compress import gate, measure
from rawtune.config.schema import CompressConfig

log = logging.getLogger("rawtune")


def compare(
    cfg: CompressConfig, parent: Any, child: Any, labeled: Any, run: Any
) -> tuple[dict[str, Any], list[str]]:
    """The summary (task metric on dev, size, CPU latency and throughput, each for parent and
    compressed, and the gate's record) and the gate's failures."""
    from rawtune.tasks.base import Inference

    method = cfg.methods[0]
    if cfg.measure.threads:
        torch.set_num_threads(cfg.measure.threads)
    child.eval()
    inference = Inference(batch_size=32)
    scores = {
        name: parent.task.evaluate(m, parent.tokenizer, labeled, parent.space, inference)
        for name, m in (("parent", parent.model), ("compressed", child))
    }
    probes = measure.probe_inputs(
        parent.task, parent.tokenizer, labeled.examples[: cfg.measure.probe_examples], cfg.measure.max_length
    )
    times = measure.timing(
        {"parent": parent.model, "compressed": child},
        parent.tokenizer,
        probes,
        repeats=cfg.measure.repeats,
        latency_examples=cfg.measure.latency_examples,
        batch_size=cfg.measure.batch_size,
    )
    metric, greater = parent.task.primary
    sizes = {
        "parent": {
            "mb": round(_parent_mb(Path(parent.run_path), parent.model), 3),
            "parameters": measure.parameter_count(parent.model),
        },
        "compressed": {
            "mb": round(_child_mb(run.model_dir), 3),
            # an ONNX graph computes with the parent's parameters (the session holds no torch ones)
            "parameters": measure.parameter_count(parent.model if method == "onnx" else child),
        },
    }
    record, failed = gate.check(
        {metric: scores["parent"][metric], **times["parent"]},
        {metric: scores["compressed"][metric], **times["compressed"]},
        metric=metric,
        greater=greater,
        max_metric_drop=cfg.gate.max_metric_drop,
        min_speedup=cfg.gate.min_speedup,
    )
    summary = {
        "task": parent.task.name,
        "method": method,
        "dev": scores["compressed"],
        "parent": {"run": str(parent.run_path), "dev": _scalars(scores["parent"])},
        "size": sizes,
        "latency": {
            **times,
            "threads": torch.get_num_threads(),
            "repeats": cfg.measure.repeats,
            "batch_size": cfg.measure.batch_size,
            "latency_examples": min(cfg.measure.latency_examples, len(probes)),
        },
        "gate": record,
    }
    return summary, failed


def log_summary(cfg: CompressConfig, summary: dict[str, Any], metric: str) -> None:
    times, sizes, record = summary["latency"], summary["size"], summary["gate"]
    log.info(
        "%s %.4f -> %.4f (%+.2f points), batch-1 %.2f -> %.2f ms (%.2fx), batch-%d %.1f -> %.1f ex/s, "
        "%.1f -> %.1f MB",
        metric,
        summary["parent"]["dev"][metric],
        summary["dev"][metric],
        -record["metric_drop_points"],
        times["parent"]["latency_ms"],
        times["compressed"]["latency_ms"],
        record["speedup"],
        cfg.measure.batch_size,
        times["parent"]["throughput"],
        times["compressed"]["throughput"],
        sizes["parent"]["mb"],
        sizes["compressed"]["mb"],
    )


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _child_mb(model_dir: Path) -> float:
    """The compressed model's weight files; for an ONNX export, the graph that runs (an int8 export
    keeps the fp32 model.onnx beside model.int8.onnx, which is not what is served)."""
    from rawtune.artifacts.onnx import is_onnx_dir, read_meta

    if is_onnx_dir(model_dir):
        name = read_meta(model_dir)["model"]
        files = [p for p in model_dir.iterdir() if p.name == name or p.name.startswith(name + ".")]
        return sum(p.stat().st_size for p in set(files)) / 1e6
    return measure.artifact_mb(model_dir)


def _parent_mb(run_path: Path, model: Any) -> float:
    """The parent's model/ on disk; for an adapter-only run, base + adapter as held in memory."""
    if (run_path / "model" / "config.json").is_file():
        return measure.artifact_mb(run_path / "model")
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
