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


def compress_run(config: Any, *, resume: bool = False) -> tuple[Any, dict[str, Any]]:
    from transformers.utils import logging as hf_logging

    from rawtune.artifacts.loaded import FINETUNE_CONFIG, finetune_config
    from rawtune.compress.compare import compare, log_summary
    from rawtune.compress.methods import COMPRESSORS
    from rawtune.config.loader import coerce_config, dump_config
    from rawtune.errors import GateError
    from rawtune.logs import setup_logging
    from rawtune.runs.rundir import RunDir, records_failure
    from rawtune.train.run import prepare_run

    cfg: CompressConfig = coerce_config("compress", config)
    setup_logging()
    hf_logging.disable_progress_bar()
    run, done = prepare_run(cfg, resume)
    if done:
        log.info("%s is already complete; nothing to resume", run.path)
        return run, json.loads(run.metrics_json.read_text())
    parent, dev, labeled = _parent_and_dev(cfg)
    compressor = COMPRESSORS.get(cfg.methods[0])
    parent_src = Path(parent.run_path)
    if not resume:
        RunDir.create(
            run.path,
            dump_config(cfg),
            {
                "stage": "compress",
                "task": parent.task.name,
                "parent": str(parent_src.resolve()),
                "method": compressor.record(cfg),
                "labels": list(parent.space.labels),
                "data": {"dev": {"file": str(dev), "examples": len(labeled.examples)}},
            },
        )
        shutil.copyfile(finetune_config(parent_src), run.path / FINETUNE_CONFIG)
    setup_logging(run.logs_dir / "compress.log")
    with records_failure(run):
        child, extra = compressor.compress(cfg, parent, labeled, run, resume)
        measured, failed = compare(cfg, parent, child, labeled, run)
        summary = {**measured, **extra}
        run.finish(summary)
    run.release_checkpoints(cfg.train.keep_checkpoints)
    log_summary(cfg, summary, parent.task.primary[0])
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
    from rawtune.artifacts.kinds import run_kind
    from rawtune.artifacts.run import load_run
    from rawtune.errors import ConfigError, ConfigIssue, DataError

    run_kind(str(cfg.parent)).check_compress(str(cfg.parent))
    parent = load_run(cfg.parent, device="cpu")
    if parent.task.generative:
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


def _refuse_quantized(parent: Any) -> None:
    from rawtune.artifacts.int8 import is_quantized
    from rawtune.errors import ModelError

    if is_quantized(Path(parent.run_path) / "model"):
        raise ModelError(
            f"{parent.run_path} is an int8 model, which cannot be trained further; distil or prune "
            "its fp32 parent, then quantize the result"
        )
