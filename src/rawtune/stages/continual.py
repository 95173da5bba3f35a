"""`rawtune continual PREVIOUS --new-data NEW --dev DEV --output RUN`: the next version of a
fine-tuned model. It is fine-tuning (the steps of `rawtune.finetuning`, composed with continual's in
`continual.plan`) starting from the previous run's model, with:

- the label space grown for labels only the new data has (old head rows kept);
- replay: a seeded sample of earlier examples (the previous run's replay memory, or its training
  file) mixed into the new ones;
- optionally a penalty toward the previous weights (EWC or L2-SP) added to the loss;
- the forgetting report: every earlier evaluation set and the new one scored before (the previous
  model) and after, the drop on each earlier set in points, and the gate (`max_forgetting`).

RUN/replay/ keeps the memory the next version replays from."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from rawtune.config.continual import ContinualConfig
from rawtune.config.loader import coerce_config
from rawtune.logs import setup_logging
from rawtune.runs.rundir import RunDir

log = logging.getLogger("rawtune")
GATE_FAILED = 4  # exit status when the model forgot more than max_forgetting: the code of every failed gate (compress, models promote)


@dataclasses.dataclass
class ContinualResult:
    run: RunDir
    version: Any = None  # the registry's Version when `name` is set


def run_continual(config: Any, *, resume: bool = False) -> ContinualResult | None:
    """One continual version; None when `if_new` finds data.new already used by the lineage."""
    from rawtune.continual import lineage as L
    from rawtune.continual.plan import ContinualPlan
    from rawtune.finetuning.run import train
    from rawtune.runs.atomic import sha256_file
    from rawtune.train.run import TrainingRun

    cfg: ContinualConfig = coerce_config("continual", config)
    setup_logging()
    previous = Path(str(cfg.previous))
    chain = L.lineage(previous)
    L.check_previous(previous, chain[0])
    new_sha = sha256_file(Path(str(cfg.data.new)))
    if cfg.if_new and not resume and L.already_used(cfg, chain, new_sha):
        return None
    base = L.base_config(previous, chain[0])
    L.check_task(previous, base)
    old_devs = L.old_devs(cfg, chain, base)
    ft = L.finetune_config(cfg, base, previous)
    if not resume:
        RunDir.check_new(Path(str(cfg.output)))  # before the MLM step spends any time
    mlm = _continued_mlm(cfg, previous, resume) if cfg.data.new_raw else None
    plan = ContinualPlan(cfg, ft, previous, chain[0], base, old_devs, new_sha, mlm)
    tr = TrainingRun.open(cfg, ft.train, resume=resume)
    run = tr.run if tr.done else train(tr, plan.run_spec(tr, plan.fine_tuning()))
    return ContinualResult(run, L.register(cfg, run, previous) if cfg.name else None)


def mlm_output(cfg: ContinualConfig) -> Path:
    out = Path(str(cfg.output))
    return out.with_name(out.name + "-mlm")


def _continued_mlm(cfg: ContinualConfig, previous: Path, resume: bool) -> Path:
    """`rawtune pretrain` (masked LM) of the previous model on data.new_raw, as its own run at
    OUTPUT-mlm (reused when complete, resumed when interrupted); returns the run's path."""
    from rawtune.runs.rundir import COMPLETE
    from rawtune.stages.pretrain import run_pretrain

    out = mlm_output(cfg)
    if RunDir.is_run(out) and RunDir(out).status == COMPLETE:
        log.info("continued MLM: reusing %s", out)
        return out
    m = cfg.mlm
    config = {
        "seed": cfg.seed,
        "output": str(out),
        "model": {"name_or_path": str(previous)},
        "data": {"corpus": [str(p) for p in cfg.data.new_raw], "seq_len": m.seq_len},
        "objective": {"name": "mlm"},
        "train": {
            "max_steps": m.steps,
            "batch_size": m.batch_size,
            "lr": m.lr,
            "progress": cfg.train.progress,
        },
    }
    if cfg.train.threads:
        config["train"]["threads"] = cfg.train.threads
    return run_pretrain(config, resume=RunDir.is_run(out)).path
