"""`rawtune zeroshot`: classify a table against label names or descriptions with no training, and
write a run directory like any evaluation (metrics.json, eval/SPLIT/report.{json,md} + plots,
predictions), with the majority-class baseline beside the scores when the data is labeled."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rawtune.config.loader import coerce_config, dump_config
from rawtune.config.zeroshot import ZeroshotConfig
from rawtune.data.readers.tables import read_scored_table
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_text
from rawtune.runs.rundir import RunDir, records_failure

log = logging.getLogger("rawtune")


def _scorer(cfg: ZeroshotConfig) -> tuple[Any, dict[str, Any]]:
    """The scorer of `cfg` (`tasks.zeroshot.load_zeroshot`: the one `rawtune predict` on this run
    uses too), loaded and checked before a run directory exists; returns score(texts) -> [n, labels]
    and the facts the manifest records."""
    from rawtune.tasks.zeroshot import load_zeroshot

    model, tok, facts = load_zeroshot(cfg)
    return (lambda texts: model.class_scores(tok, texts, cfg.batch_size)), facts


def majority_baseline(gold: list[str]) -> dict[str, Any]:
    """Accuracy of always answering the most frequent gold label (ties: the first seen)."""
    label, count = Counter(gold).most_common(1)[0]
    return {"label": label, "accuracy": count / len(gold)}


def run_zeroshot(config: Any) -> RunDir:
    """Score cfg.data.file with cfg.method and write the run directory cfg.output."""
    cfg: ZeroshotConfig = coerce_config("zeroshot", config)
    setup_logging()
    RunDir.check_new(Path(str(cfg.output)))
    data, labeled = read_scored_table(cfg.data.file, cfg.data.text_column, cfg.data.label_column, cfg.labels)
    score, facts = _scorer(cfg)
    split = cfg.data.split
    manifest = {
        "stage": "zeroshot",
        "task": "classification",
        "method": cfg.method,
        "labels": list(cfg.labels),
        "data": {split: {"file": data.file, "examples": len(data.examples), "labeled": labeled}},
        **facts,
    }
    run = RunDir.create(str(cfg.output), dump_config(cfg), manifest)
    setup_logging(run.logs_dir / "zeroshot.log")
    with records_failure(run):
        start = time.perf_counter()
        scores = score([ex.text for ex in data.examples])
        seconds = time.perf_counter() - start
        pred = [cfg.labels[int(j)] for j in scores.argmax(1)]
        _write_predictions(run, split, data.examples, pred, scores, cfg.labels)
        result: dict[str, Any] = {"n": len(pred), "predicted": dict(Counter(pred))}
        if labeled:
            result = _evaluate(run, cfg, data, pred)
        result.update(seconds=seconds, examples_per_s=len(pred) / seconds if seconds else 0.0)
        run.finish({"task": "classification", "stage": "zeroshot", "method": cfg.method, split: result})
    if labeled:
        log.info("done: %s (%s accuracy %.4f, majority baseline %.4f)", run.path, split,
                 result["accuracy"], result["majority_baseline"])  # fmt: skip
    else:
        log.info("done: %s (%d texts scored, unlabeled)", run.path, len(pred))
    return run


def _evaluate(run: RunDir, cfg: ZeroshotConfig, data: Any, pred: list[str]) -> dict[str, Any]:
    from rawtune.evaluation.metrics import classification_metrics
    from rawtune.evaluation.report import write_report

    gold = [ex.label for ex in data.examples]
    metrics = classification_metrics(gold, pred, list(cfg.labels))
    base = majority_baseline(gold)
    metrics.update(majority_baseline=base["accuracy"], majority_label=base["label"])
    write_report(
        run.eval_dir / cfg.data.split,
        task="classification",
        metrics=metrics,
        title=f"zero-shot {cfg.method} — {cfg.data.split} ({Path(data.file).name})",
        meta={
            "model": cfg.model.name_or_path,
            "method": cfg.method,
            "data": data.file,
            "examples": len(gold),
        },
    )
    return metrics


def _write_predictions(
    run: RunDir, split: str, examples: list[Any], pred: list[str], scores: Any, labels: list[str]
) -> None:
    lines = []
    for ex, p, row in zip(examples, pred, scores):
        rec = {"line": ex.line, "text": ex.text, "label": p}
        if ex.label is not None:
            rec["gold"] = ex.label
        rec["scores"] = {lab: round(float(s), 6) for lab, s in zip(labels, row)}
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    (run.eval_dir / split).mkdir(parents=True, exist_ok=True)
    write_text(run.eval_dir / split / "predictions.jsonl", "".join(lines))
