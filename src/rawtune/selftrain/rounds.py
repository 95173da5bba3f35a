"""The rounds' bookkeeping: a given teacher checked against the data, each round's dev metric, and
OUTPUT/selftrain.json (the rounds, their metrics and the winner: the best round by the dev metric,
round 0 included, so self-training never hands back a model worse on dev than the teacher)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from rawtune.errors import DataError, ModelError
from rawtune.selftrain.pseudo import PSEUDO

SUMMARY = "selftrain.json"


def teacher_backbone(teacher: Path) -> str:
    """The backbone a given teacher was fine-tuned from: what its students start from when no
    --model is given."""
    from rawtune.artifacts.loaded import finetune_config

    path = finetune_config(teacher)
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ModelError(f"teacher {teacher}: not a rawtune run (no {path.name}); pass --model too") from None
    name = (cfg.get("model") or {}).get("name_or_path")
    if not name:
        raise ModelError(f"teacher {teacher}: its config names no model.name_or_path; pass --model")
    return str(name)


def check_teacher(teacher: Path, task: str, labels: tuple[str, ...], train_file: str) -> None:
    """A given teacher must be a finished run of the task with the training data's labels."""
    from rawtune.artifacts.run import load_run

    loaded = load_run(teacher, device="cpu")
    if loaded.task.name != task:
        raise DataError(f"the teacher is a {loaded.task.name} run, not {task}", file=str(teacher))
    have, want = set(loaded.space.labels), set(labels)
    if have != want:
        raise DataError(
            f"the teacher's {len(have)} labels differ from the {len(want)} of {train_file}: only the "
            f"teacher has {sorted(have - want)}, only the data has {sorted(want - have)}",
            file=str(teacher),
        )


def teacher_metrics(teacher: Path, dev: Any, batch_size: int) -> dict[str, Any]:
    """A given teacher's metrics on the dev set, through its own decode path."""
    from rawtune.artifacts.run import load_run
    from rawtune.tasks.base import Inference

    # as `evaluate` scores it and as the students' own runs score them (bf16 where the machine runs
    # it faster): round 0 and the students are compared by the same yardstick
    t = load_run(teacher, dtype="auto")
    return t.task.evaluate(t.model, t.tokenizer, dev, t.space, Inference(batch_size))


def run_metrics(run: Path) -> tuple[dict[str, Any], str, bool]:
    """A finished round's dev metrics, the metric that picks the best and whether greater is better."""
    m = json.loads((run / "metrics.json").read_text())
    chosen = m.get("selected_by") or {}
    return m.get("dev") or {}, chosen.get("metric", "f1"), chosen.get("greater_is_better", True)


def entry(round_: int, run: Path, output: Path, dev: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A round of selftrain.json: its run (relative to OUTPUT when inside it) and dev metrics."""
    inside = run.resolve().is_relative_to(output.resolve())
    where = str(run.resolve().relative_to(output.resolve())) if inside else str(run.resolve())
    numbers = {k: v for k, v in dev.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {"round": round_, "run": where, **extra, "dev": numbers}


def student_entry(k: int, run: Path, output: Path, stats: dict[str, Any], teacher: str) -> dict[str, Any]:
    """Round k of selftrain.json: the student's run and dev metrics, its teacher, its pseudo-labels."""
    labels = {
        "file": f"{PSEUDO}/{stats['file']}",
        "statistics": f"{PSEUDO}/round-{k}.json",
        "seen": stats["seen"],
        "kept": stats["kept"],
    }
    return entry(k, run, output, run_metrics(run)[0], teacher=teacher, pseudo_labels=labels)


def summary(task: str, rounds: list[dict[str, Any]], last: Path, unlabeled: dict) -> dict:
    """selftrain.json: every round, and the best by the metric that picked the `last` run's model
    (the earliest round on a tie)."""
    _, metric, greater = run_metrics(last)
    values = [r["dev"].get(metric) for r in rounds]
    if any(v is None for v in values):
        raise DataError(
            f"a round has no dev {metric}: {[r['run'] for r, v in zip(rounds, values) if v is None]}"
        )
    best = max(range(len(rounds)), key=lambda i: (values[i] if greater else -values[i], -i))
    return {
        "task": task,
        "metric": metric,
        "greater_is_better": greater,
        "split": "dev",
        "rounds": rounds,
        "best": {"round": rounds[best]["round"], "run": rounds[best]["run"], metric: values[best]},
        "unlabeled": unlabeled,
    }


def best_run(output: str | Path) -> Path:
    """The winning round's run directory, from OUTPUT/selftrain.json."""
    out = Path(output)
    run = Path(json.loads((out / SUMMARY).read_text())["best"]["run"])
    return run if run.is_absolute() else out / run
