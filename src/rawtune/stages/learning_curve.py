"""Learning curves: the same fine-tuning at several fractions of the labeled data, for one or more
starting models (e.g. the base model and the same model after task-adaptive pretraining). The plot
of dev metric against labeled examples is what pretraining on raw text buys.

OUTPUT/learning_curve.json holds every point; each point is an ordinary fine-tuning run under
OUTPUT/<series>/fraction-<f>/, so it can be evaluated, served or reported like any other, and a
re-run (or --resume) reuses the points that are complete and resumes the one that was interrupted.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import yaml

from rawtune.errors import RunDirError
from rawtune.runs.atomic import write_json
from rawtune.runs.rundir import COMPLETE, RunDir

log = logging.getLogger("rawtune")


def _series_name(ref: str) -> str:
    p = Path(ref)
    return (p.parent.name if p.name == "model" else p.name) or "model"


def run_learning_curve(
    config: Any,
    fractions: list[float],
    series: dict[str, str] | None = None,
    *,
    min_steps: int = 0,
    resume: bool = False,
) -> Path:
    """One fine-tuning run per (series, fraction); returns OUTPUT. `series` maps a name to the model
    each curve starts from (default: the config's model). `min_steps`: a point whose epochs come to
    fewer optimizer steps trains for `min_steps` (1 % of the data for 3 epochs is a handful of steps,
    which would measure too little training rather than too little data)."""
    from rawtune.config.loader import coerce_config, dump_config
    from rawtune.data.splits import at_least_steps
    from rawtune.logs import setup_logging

    cfg = coerce_config("finetune", config)
    setup_logging()
    if not series:
        ref = cfg.model.name_or_path
        series = {_series_name(ref): ref}
    fractions = sorted(set(fractions))
    root = Path(cfg.output)
    stored = {
        "finetune": yaml.safe_load(dump_config(cfg)),
        "fractions": fractions,
        "series": series,
        "min_steps": min_steps,
    }
    run = _prepare_root(root, stored, resume)
    n_train = _count_train(cfg) if min_steps else 0
    curves = []
    for name, ref in series.items():
        points = []
        for frac in fractions:
            points.append(_point(at_least_steps(cfg, frac, n_train, min_steps), name, ref, frac, root))
        curves.append({"name": name, "model": ref, "points": points})
    metric = cfg.train.metric_for_best or _primary(root, curves)
    summary = {"task": cfg.task.name, "metric": metric, "split": "dev", "series": curves}
    write_json(root / "learning_curve.json", summary)
    run.finish(summary)
    from rawtune.reporting import write_run_report

    write_run_report(root)
    for curve in curves:
        log.info(
            "%s: %s",
            curve["name"],
            ", ".join(f"{p['examples']} ex -> {p['value']:.4f}" for p in curve["points"]),
        )
    return root


def _prepare_root(root: Path, stored: dict[str, Any], resume: bool) -> RunDir:
    run = RunDir(root)
    if resume and RunDir.is_run(root):
        before = yaml.safe_load(run.config_path.read_text()) or {}
        before.get("finetune", {}).pop("rawtune_version", None)
        now = {**stored, "finetune": {k: v for k, v in stored["finetune"].items() if k != "rawtune_version"}}
        if before != now:
            raise RunDirError(
                f"--resume: {root} is a learning curve with another config; choose a new --output"
            )
        run.update_manifest(status="running")
        return run
    return RunDir.create(
        root,
        yaml.safe_dump(stored, sort_keys=False),
        {"stage": "learning_curve", "task": stored["finetune"]["task"]["name"], "series": stored["series"]},
    )


def _point(cfg: Any, name: str, ref: str, frac: float, root: Path) -> dict[str, Any]:
    from rawtune.runs.checkpoint import latest_verified
    from rawtune.stages.finetune import run_finetune

    out = root / name / f"fraction-{frac:g}"
    sub = cfg.model_copy(
        update={
            "output": str(out),
            "model": cfg.model.model_copy(update={"name_or_path": ref}),
            "data": cfg.data.model_copy(update={"train_fraction": frac}),
        }
    )
    point = RunDir(out)
    if point.status != COMPLETE:
        log.info("learning curve %s: %g of the training data", name, frac)
        resume = RunDir.is_run(out) and latest_verified(point.checkpoints_dir, log.warning) is not None
        if out.exists() and not resume:  # interrupted before its first checkpoint: start it again
            shutil.rmtree(out)
        run_finetune(sub, resume=resume)
    metrics = json.loads(point.metrics_json.read_text())
    metric = metrics.get("selected_by", {}).get("metric", "f1")
    return {
        "fraction": frac,
        "examples": metrics["train"]["examples"],
        "run": str(out.relative_to(root)),
        "value": (metrics.get("dev") or {}).get(metric),
        "test": (metrics.get("test") or {}).get(metric),
        "train_seconds": metrics["train"]["train_seconds"],
    }


def _count_train(cfg: Any) -> int:
    from rawtune.tasks.base import get_task

    return len(get_task(cfg).read(cfg.data.train).examples)


def _primary(root: Path, curves: list[dict[str, Any]]) -> str:
    first = root / curves[0]["points"][0]["run"] / "metrics.json"
    return json.loads(first.read_text()).get("selected_by", {}).get("metric", "f1")
