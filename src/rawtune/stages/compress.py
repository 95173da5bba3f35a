"""`rawtune compress PARENT --output RUN (--quantize int8 | --distill [--student-layers N] |
--prune SPEC [--recover-epochs E]) [--max-metric-drop X --min-speedup Y]`: a compressed copy of a
fine-tuned run, measured next to it (size, CPU latency and throughput, the task metric on dev data)
and accepted only within the gate.

Distillation and recovery fine-tuning run in the same loop as finetune (checkpoints, best model by
the dev metric, exact `--resume`). The run directory holds the compress config (config.yaml), the
parent's fine-tuning config (finetune.yaml: task, labels and data settings, so `rawtune predict` /
`evaluate` and `Predictor` use the compressed run like any other), model/, metrics.json and a
manifest naming the parent. A rejected model is kept for inspection with status "rejected", and the
command exits 4."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from rawtune.config.schema import CompressConfig

log = logging.getLogger("rawtune")
REJECTED = "rejected"


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def compress_run(config: Any, *, resume: bool = False) -> tuple[Any, dict[str, Any]]:
    from transformers.utils import logging as hf_logging

    from rawtune.artifacts.run import FINETUNE_CONFIG, finetune_config
    from rawtune.config.loader import dump_config
    from rawtune.errors import GateError
    from rawtune.logs import setup_logging
    from rawtune.runs.rundir import RunDir
    from rawtune.stages.common import coerce_config, prepare_run, records_failure

    cfg: CompressConfig = coerce_config("compress", config)
    setup_logging()
    hf_logging.disable_progress_bar()
    run, done = prepare_run(cfg, resume)
    if done:
        log.info("%s is already complete; nothing to resume", run.path)
        return run, json.loads(run.metrics_json.read_text())
    parent, dev, labeled = _parent_and_dev(cfg)
    parent_src = Path(parent.run_path)
    if not resume:
        RunDir.create(
            run.path,
            dump_config(cfg),
            {
                "stage": "compress",
                "task": parent.task.name,
                "parent": str(parent_src.resolve()),
                "method": _method_record(cfg),
                "labels": list(parent.space.labels),
                "data": {"dev": {"file": str(dev), "examples": len(labeled.examples)}},
            },
        )
        shutil.copyfile(finetune_config(parent_src), run.path / FINETUNE_CONFIG)
    setup_logging(run.logs_dir / "compress.log")
    with records_failure(run):
        child, extra = _child(cfg, parent, labeled, run, resume)
        measured, failed = _measure(cfg, parent, child, labeled, run)
        summary = {**measured, **extra}
        run.finish(summary)
    _log_summary(cfg, summary, parent.task.primary[0])
    if failed:
        run.update_manifest(status=REJECTED, error="; ".join(failed))
    from rawtune.reporting import write_run_report

    write_run_report(run.path)  # a rejected model gets its report too: it shows why
    if failed:
        raise GateError(f"{run.path} rejected by the gate: " + "; ".join(failed))
    return run, summary


def _parent_and_dev(cfg: CompressConfig) -> tuple[Any, Any, Any]:
    """The parent run (loaded on the CPU), its dev file and the labeled dev data; refused where
    compress cannot handle the parent."""
    from rawtune.artifacts.run import load_run
    from rawtune.errors import ConfigError, ConfigIssue, DataError

    parent = load_run(cfg.parent, device="cpu")
    if getattr(parent.task, "generative", False):
        from rawtune.errors import ModelError

        raise ModelError(
            f"{cfg.parent}: compressing a {parent.task.name} (generation) run is not supported yet"
        )
    if parent.task.name in ("qa", "relations"):  # speed probes and distillation are per-text/per-token
        name = parent.task.name
        raise ConfigError(
            [ConfigIssue("parent", f"{cfg.parent} is a {name} run; compress does not support {name} yet")]
        )
    dev = cfg.dev or parent.cfg.data.dev
    if not dev:
        raise ConfigError(
            [ConfigIssue("dev", "the parent run has no data.dev; give labeled data with --dev")]
        )
    labeled = parent.task.read(str(dev))
    if not labeled.examples:
        raise DataError("no examples", file=str(dev))
    parent.task.check_labels(parent.space, labeled, "dev data")
    if cfg.methods[0] != "quantize":
        _refuse_quantized(parent)
    return parent, dev, labeled


def _child(
    cfg: CompressConfig, parent: Any, labeled: Any, run: Any, resume: bool
) -> tuple[Any, dict[str, Any]]:
    """The compressed model, saved to RUN/model/, and what its method records (training, pruning)."""
    from rawtune.runs.atomic import atomic_dir

    method = cfg.methods[0]
    if method == "quantize":
        from rawtune.artifacts.int8 import quantize_int8
        from rawtune.compress.quantize import save_quantized

        log.info("quantizing %s (dynamic int8, every linear layer)", parent.run_path)
        child = quantize_int8(parent.model, keep_fp32=cfg.keep_fp32)
        with atomic_dir(run.model_dir) as tmp:
            save_quantized(child, tmp, parent.tokenizer, parent.task.auto_class_name)
        return child, {}
    if method == "onnx":
        return _onnx(cfg, parent, labeled, run), {}
    from rawtune.stages.compress_train import distill, prune

    child, extra, save = (distill if method == "distill" else prune)(cfg, parent, labeled, run, resume)
    with atomic_dir(run.model_dir) as tmp:
        save(tmp)
    return child, extra


def _measure(
    cfg: CompressConfig, parent: Any, child: Any, labeled: Any, run: Any
) -> tuple[dict[str, Any], list[str]]:
    """The summary (task metric on dev, size, CPU latency and throughput, each for parent and
    compressed, and the gate's record) and the gate's failures."""
    import torch

    from rawtune.compress import gate, measure
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
            "mb": round(_parent_mb(Path(parent.run_path), parent.model, measure), 3),
            "parameters": measure.parameter_count(parent.model),
        },
        "compressed": {
            "mb": round(_child_mb(run.model_dir, measure), 3),
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


def _log_summary(cfg: CompressConfig, summary: dict[str, Any], metric: str) -> None:
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


def _onnx(cfg: CompressConfig, parent: Any, dev: Any, run: Any) -> Any:
    """The parent exported to ONNX (int8 with --quantize) into RUN/model/, checked for parity on the
    dev texts by the exporter, and loaded back as an onnxruntime session to be measured."""
    from rawtune.artifacts.onnx import load_onnx_model
    from rawtune.artifacts.run import FINETUNE_CONFIG
    from rawtune.export.onnx import export_onnx

    texts = [" ".join(ex.tokens) if hasattr(ex, "tokens") else ex.text for ex in dev.examples[:64]]
    log.info("exporting %s to ONNX%s", parent.run_path, " (int8)" if cfg.quantize else "")
    export_onnx(
        parent.model,
        parent.tokenizer,
        run.model_dir,
        quantize=cfg.quantize,
        threads=cfg.measure.threads,
        texts=texts,
        texts_from=str(cfg.dev or parent.cfg.data.dev),
        files=[(run.path / FINETUNE_CONFIG, FINETUNE_CONFIG)],
        meta={"source": {"run": str(Path(parent.run_path).resolve())}},
        # the gate judges int8 by the task metric on the whole dev set, a stronger test than argmax
        # agreement on a few texts; the agreement is still recorded in rawtune_onnx.json
        min_agreement=None,
    )
    return load_onnx_model(run.model_dir, threads=cfg.measure.threads)


def _child_mb(model_dir: Path, measure: Any) -> float:
    """The compressed model's weight files; for an ONNX export, the graph that runs (an int8 export
    keeps the fp32 model.onnx beside model.int8.onnx, which is not what is served)."""
    from rawtune.artifacts.onnx import is_onnx_dir, read_meta

    if is_onnx_dir(model_dir):
        name = read_meta(model_dir)["model"]
        files = [p for p in model_dir.iterdir() if p.name == name or p.name.startswith(name + ".")]
        return sum(p.stat().st_size for p in set(files)) / 1e6
    return measure.artifact_mb(model_dir)


def _method_record(cfg: CompressConfig) -> dict[str, Any]:
    if cfg.onnx:
        return {"onnx": {"quantize": cfg.quantize}}
    if cfg.quantize:
        return {"quantize": cfg.quantize}
    if cfg.distill.enabled:
        return {"distill": cfg.distill.model_dump(mode="json")}
    return {"prune": cfg.prune.model_dump(mode="json")}


def _refuse_quantized(parent: Any) -> None:
    from rawtune.artifacts.int8 import is_quantized
    from rawtune.errors import ModelError

    if is_quantized(Path(parent.run_path) / "model"):
        raise ModelError(
            f"{parent.run_path} is an int8 model, which cannot be trained further; distil or prune "
            "its fp32 parent, then quantize the result"
        )


def _parent_mb(run_path: Path, model: Any, measure: Any) -> float:
    """The parent's model/ on disk; for an adapter-only run, base + adapter as held in memory."""
    if (run_path / "model" / "config.json").is_file():
        return measure.artifact_mb(run_path / "model")
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
