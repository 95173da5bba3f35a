"""`rawtune selftrain`: self-training on raw text. Round 0 is the teacher (fine-tuned on the labeled
data, or given as a finished run); each round N labels the unlabeled text with the last model,
keeps the confident labels (OUTPUT/pseudo/round-N.*, with their statistics) and fine-tunes a student
from the backbone on the gold data plus them (OUTPUT/round-N/, whose manifest names its teacher as
`parent` and the pseudo-labels it learnt from). OUTPUT/selftrain.json lists the rounds and the best
by the dev metric, the run a pipeline's next stage loads. Orchestration only: the method lives in
`rawtune.selftrain`; every round is a `run_finetune` run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.config.loader import coerce_config, dump_config, load_config
from rawtune.config.selftrain import SelftrainConfig
from rawtune.data.splits import read_splits
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_json
from rawtune.runs.faults import fault
from rawtune.runs.rundir import RUNNING, RunDir, records_failure
from rawtune.selftrain import pseudo, rounds, unlabeled
from rawtune.selftrain.student import finetune_round, train_student
from rawtune.train.run import prepare_run

log = logging.getLogger("rawtune")


@dataclass(frozen=True)
class SelftrainResult:
    output: Path  # OUTPUT, holding every round and selftrain.json
    best: Path  # the winning round's run directory
    summary: dict[str, Any]  # selftrain.json


def run_selftrain(config: Any, *, resume: bool = False) -> SelftrainResult:
    """Every round of self-training (see the module); with `resume`, finished rounds and verified
    pseudo-labels are reused and an interrupted round resumes from its last checkpoint."""
    from rawtune.tasks.base import get_task

    cfg: SelftrainConfig = coerce_config("selftrain", config)
    setup_logging()
    out, given = Path(str(cfg.output)), Path(cfg.teacher) if cfg.teacher else None
    run, done = prepare_run(cfg, resume)  # creates nothing: a taken --output fails at once
    if done:
        return _result(out)
    backbone = cfg.model.name_or_path or rounds.teacher_backbone(given)  # type: ignore[arg-type]
    base = load_config(
        "finetune", base=cfg.finetune(model={**cfg.model.model_dump(), "name_or_path": backbone})
    )
    task = get_task(base)
    splits, space = read_splits(task, base)  # every input checked before anything is written
    units, counts = unlabeled.read_config(cfg, task.name, splits)
    if given is not None:
        rounds.check_teacher(given, task.name, space.labels, str(base.data.train))
    if RunDir.is_run(out):
        run.update_manifest(status=RUNNING)
    else:
        RunDir.create(
            out, dump_config(cfg), {"stage": "selftrain", "task": task.name, "teacher": cfg.teacher}
        )
    log_file = run.logs_dir / "selftrain.log"
    with records_failure(run):
        teacher, history = _round_zero(cfg, base, given, splits["dev"], out)
        setup_logging(log_file)
        gold = pseudo.gold_counts(task.name, splits["train"])
        for k in range(1, cfg.rounds + 1):
            fault("selftrain.round")
            stats = pseudo.round_labels(cfg, base.data, k, teacher, units, gold)
            teacher = train_student(cfg, base, k, teacher, stats, backbone)
            setup_logging(log_file)
            history.append(rounds.student_entry(k, teacher, out, stats, history[-1]["run"]))
        summary = rounds.summary(task.name, history, teacher, counts.to_dict())
        write_json(out / rounds.SUMMARY, summary)
        run.finish(summary)
    best, metric = summary["best"], summary["metric"]
    log.info("best: round %d (%s), dev %s %.4f", best["round"], best["run"], metric, best[metric])
    return _result(out)


def _result(out: Path) -> SelftrainResult:
    import json

    return SelftrainResult(out, rounds.best_run(out), json.loads((out / rounds.SUMMARY).read_text()))


def _round_zero(
    cfg: SelftrainConfig, base: Any, given: Path | None, dev: Any, out: Path
) -> tuple[Path, list]:
    """The teacher: the given run (scored on the dev set here), or one fine-tuned on the gold data."""
    if given is not None:
        metrics = rounds.teacher_metrics(given, dev, cfg.label_batch_size)
        return given, [rounds.entry(0, given, out, metrics, given=True)]
    run = finetune_round(base.model_copy(update={"output": str(out / "round-0")}).model_dump(mode="json"),
                         {"selftrain": {"round": 0, "role": "teacher"}})  # fmt: skip
    return run.path, [rounds.entry(0, run.path, out, rounds.run_metrics(run.path)[0], given=False)]
