"""The few-shot protocol: for each seed, k examples per class drawn from the pool (written to
OUTPUT/kshot/seed-N.csv, the lines recorded), one run in OUTPUT/seed-N by the configured method
(`fewshot.methods`), and OUTPUT/metrics.json with every dev/test number's mean and std.
With --resume, a study that was interrupted goes on: complete seeds are kept, an interrupted seed
continues from its last verified checkpoint (or starts again when it has none)."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import statistics
from pathlib import Path
from typing import Any

from rawtune.config.fewshot import FewshotConfig
from rawtune.config.identity import check_same_config
from rawtune.config.loader import dump_config
from rawtune.data.kshot import entity_types
from rawtune.errors import CheckpointError, ConfigError, ConfigIssue, DataError
from rawtune.fewshot.methods import FEWSHOT_METHODS, SeedSample
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_json, write_text
from rawtune.runs.rundir import COMPLETE, RunDir

log = logging.getLogger("rawtune")
SUMMARY_KEYS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "f1", "precision", "recall", "loss")


def read_data(cfg: FewshotConfig) -> tuple[Any, dict[str, Any], Any]:
    """(task, {"pool", "dev"[, "test"]}, label space), every file read and checked up front."""
    from rawtune.config.fewshot import finetune_config
    from rawtune.tasks.base import get_task

    task = get_task(finetune_config(cfg, cfg.seed, str(cfg.data.train), str(cfg.output)))
    splits = {"pool": task.read(str(cfg.data.train))}
    for name in ("dev", "test"):
        path = getattr(cfg.data, name)
        if path:
            splits[name] = task.read(str(path))
    for data in splits.values():
        if not data.examples:
            raise DataError("no examples", file=data.file)
    space = task.label_space(splits["pool"])
    for name in ("dev", "test"):
        if name in splits:
            task.check_labels(space, splits[name], name)
    return task, splits, space


def write_sample(
    root: Path, seed: int, sample: list[Any], cfg: FewshotConfig, pool: Any, extra: list[Any] = ()
) -> dict[str, Any]:
    """OUTPUT/kshot/seed-N.csv (the user's column names, plus the pool line of each row, or
    "description" for the label descriptions in `extra`) and the record of the draw kept in
    metrics.json and each run's manifest."""
    if cfg.task == "ner":  # CoNLL: word and tag per line; the pool line of each sentence is recorded below
        path = root / "kshot" / f"seed-{seed}.conll"
        text = "".join("".join(f"{w} {t}\n" for w, t in zip(ex.tokens, ex.tags)) + "\n" for ex in sample)
        write_text(path, text)
        labels: list[Any] = [sorted(entity_types(ex.tags)) for ex in sample]
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([cfg.data.text_column, cfg.data.label_column, "pool_line"])
        for ex in sample:
            w.writerow([ex.text, ex.label, ex.line])
        for ex in extra:
            w.writerow([ex.text, ex.label, "description"])
        path = root / "kshot" / f"seed-{seed}.csv"
        write_text(path, buf.getvalue())
        labels = [ex.label for ex in sample]
    return {
        "file": str(path),
        "pool": pool.file,
        "k": cfg.shots,
        "seed": seed,
        "lines": [ex.line for ex in sample],
        "labels": labels,
        "examples": len(sample) + len(extra),
        "descriptions": len(extra),
    }


def draw(cfg: FewshotConfig, pool: Any, seed: int) -> list[Any]:
    """The k-shot sample of one seed: k per class, or for NER every type in at least k sentences."""
    from rawtune.data.kshot import sample_ner_sentences, sample_per_class

    sampler = sample_ner_sentences if cfg.task == "ner" else sample_per_class
    return sampler(pool.examples, cfg.shots, seed)


def description_examples(cfg: FewshotConfig, space: Any) -> list[Any]:
    """The label descriptions as labeled examples (added to every seed's sample): label-name-aware
    few-shot training. A description of a label the pool does not have is refused."""
    from rawtune.data.readers.examples import TextExample

    unknown = sorted(set(cfg.descriptions) - set(space.labels))
    if unknown:
        raise ConfigError(
            [
                ConfigIssue(
                    "descriptions", f"labels {unknown} are not in the pool's labels {list(space.labels)}"
                )
            ]
        )
    return [
        TextExample(text, label, "descriptions", 0)
        for label in space.labels
        for text in cfg.descriptions.get(label, [])
    ]


def summarize(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """{split: {metric: {"mean", "std", "values"}}} over the runs; std is the sample std (n - 1), as
    `rawtune finetune --seeds` reports it, and 0.0 for one run."""
    out: dict[str, Any] = {}
    for split in ("dev", "test"):
        vals: dict[str, list[float]] = {}
        for rec in per_seed:
            for k, v in (rec.get(split) or {}).items():
                vals.setdefault(k, []).append(float(v))
        if vals:
            out[split] = {
                k: {
                    "mean": statistics.fmean(v),
                    "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                    "values": v,
                }
                for k, v in vals.items()
            }
    return out


def _open_study(cfg: FewshotConfig, root: Path, resume: bool) -> None:
    """A new study needs an empty output; --resume needs this very study (same resolved config)."""
    if not resume:
        RunDir.check_new(root)
        return
    if not (root / "config.yaml").is_file():
        raise CheckpointError(f"--resume: {root} holds no few-shot study (no config.yaml)")
    check_same_config(root / "config.yaml", cfg)


def _seed_state(cfg: FewshotConfig, out: Path, kshot: dict[str, Any], resume: bool) -> str:
    """What --resume does with OUTPUT/seed-N: "done" (complete, kept), "continue" (from its last
    verified checkpoint) or "new" (absent, or interrupted before any checkpoint: started again)."""
    from rawtune.runs.checkpoint import latest_verified

    if not resume or not out.exists():
        return "new"
    run = RunDir(out)
    if not RunDir.is_run(out):
        raise CheckpointError(f"--resume: {out} is not a run directory of this study; move it away")
    drawn = (run.manifest().get("kshot") or {}).get("lines")
    if drawn is not None and drawn != kshot["lines"]:
        raise CheckpointError(
            f"--resume: {out} was trained on other pool lines than seed {kshot['seed']} draws now "
            f"(did {kshot['pool']} change?); start a new --output"
        )
    if run.status == COMPLETE:
        return "done"
    if (
        FEWSHOT_METHODS.get(cfg.method).trains
        and latest_verified(run.checkpoints_dir, log.warning) is not None
    ):
        return "continue"
    log.info("%s: interrupted before its first checkpoint; starting that seed again", out)
    shutil.rmtree(out)
    return "new"


def run_study(cfg: FewshotConfig, *, resume: bool = False) -> dict[str, Any]:
    """All seeds of one few-shot study; returns (and writes) OUTPUT/metrics.json."""
    setup_logging()
    root = Path(str(cfg.output))
    _open_study(cfg, root, resume)
    task, splits, space = read_data(cfg)
    draw(cfg, splits["pool"], cfg.seed)  # too few examples fail first
    extra = description_examples(cfg, space)
    (root / "kshot").mkdir(parents=True, exist_ok=True)
    write_text(root / "config.yaml", dump_config(cfg))
    per_seed = []
    for seed in range(cfg.seed, cfg.seed + cfg.seeds):
        sample = draw(cfg, splits["pool"], seed)
        kshot = write_sample(root, seed, sample, cfg, splits["pool"], extra)
        sample = sample + extra
        out = root / f"seed-{seed}"
        state = _seed_state(cfg, out, kshot, resume)
        if state == "done":
            log.info("fewshot %s, seed %d: complete, kept", cfg.method, seed)
            m = json.loads(RunDir(out).metrics_json.read_text())
        else:
            log.info(
                "fewshot %s, seed %d: %d examples (%d per class)", cfg.method, seed, len(sample), cfg.shots
            )
            one = SeedSample(cfg, seed, kshot, out, task, sample, splits, space, resume=state == "continue")
            m = FEWSHOT_METHODS.get(cfg.method).run(one)
        per_seed.append(_seed_record(seed, out, m, kshot))
    summary = {
        "task": cfg.task,
        "method": cfg.method,
        "shots": cfg.shots,
        "seeds": [r["seed"] for r in per_seed],
        **summarize(per_seed),
        "per_seed": per_seed,
    }
    write_json(root / "metrics.json", summary)
    return summary


def _seed_record(seed: int, out: Path, m: dict[str, Any], kshot: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {"seed": seed, "run": str(out)}
    for split in ("dev", "test"):
        if m.get(split):
            rec[split] = {k: m[split][k] for k in SUMMARY_KEYS if isinstance(m[split].get(k), (int, float))}
    rec["train_seconds"] = (m.get("train") or {}).get("train_seconds")
    rec["kshot"] = kshot
    return rec
