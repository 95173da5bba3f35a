"""`rawtune finetune`: a task head on a backbone (hub id, local dir, or a pretrain run), trained on a
small labeled set with the one loop; the best model by the dev metric is kept and reported. The
steps live in `rawtune.finetuning`; with `--seeds`, one run per seed and their mean and std."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rawtune.config.loader import coerce_config
from rawtune.config.schema import FinetuneConfig
from rawtune.runs.atomic import write_json
from rawtune.runs.rundir import RunDir


def run_finetune(config: Any, *, resume: bool = False) -> RunDir:
    """Fine-tune one model. With `seeds`, see `run_finetune_seeds`."""
    from rawtune.finetuning.run import finetune

    return finetune(coerce_config("finetune", config), resume=resume)


def run_finetune_seeds(config: Any, seeds: list[int], *, resume: bool = False) -> dict[str, Any]:
    """One run per seed under OUTPUT/seed-N, and OUTPUT/seeds.json with mean and std of every
    number in each run's dev/test metrics."""
    cfg: FinetuneConfig = coerce_config("finetune", config)
    root = Path(cfg.output)
    runs = []
    for seed in seeds:
        sub = cfg.model_copy(update={"seed": seed, "output": str(root / f"seed-{seed}")})
        runs.append(run_finetune(sub, resume=resume and (root / f"seed-{seed}").exists()))
    summary: dict[str, Any] = {"seeds": seeds, "runs": [str(r.path) for r in runs]}
    per_run = [json.loads(r.metrics_json.read_text()) for r in runs]
    for split in ("dev", "test"):
        vals: dict[str, list[float]] = {}
        for m in per_run:
            for k, v in (m.get(split) or {}).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    vals.setdefault(k, []).append(float(v))
        if vals:
            summary[split] = {
                k: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
                for k, v in vals.items()
            }
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "seeds.json", summary)
    return summary
