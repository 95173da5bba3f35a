"""A round's pseudo-labels: the teacher's predictions on the unlabeled units (through the one decode
path, `LoadedRun.predict`), the confident ones chosen (`select`), written as a file `finetune` reads
(CoNLL for NER, with the words and tag in the columns data.token_column and data.tag_column name;
CSV with data.text_column and data.label_column for classification) and OUTPUT/pseudo/round-N.json
beside it: the statistics, the file's sha256 and the fingerprint of what made it (the teacher's
files, the units, the options). That JSON is written last, so a file without it is never trusted,
and a file whose JSON matches is reused when a run resumes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rawtune.runs.atomic import sha256_file, write_json, write_text
from rawtune.runs.faults import fault
from rawtune.selftrain.select import select_classes, select_ner
from rawtune.selftrain.unlabeled import Unit

log = logging.getLogger("rawtune")
PSEUDO = "pseudo"
_CHUNK = 2048  # units per predict call: progress in the log, and a bounded encoding at a time


def paths(output: Path, round_: int, task: str) -> tuple[Path, Path]:
    """(pseudo-labels file, its statistics) of round `round_`."""
    base = output / PSEUDO / f"round-{round_}"
    return base.with_suffix(".conll" if task == "ner" else ".csv"), base.with_suffix(".json")


def run_digest(run: Path) -> str:
    """What a finished run's model is: its manifest's table of files (each with its sha256), or the
    hash of every file under it for a model directory without one."""
    h = hashlib.sha256()
    manifest = run / "manifest.json"
    if manifest.is_file():
        h.update(json.dumps(json.loads(manifest.read_text()).get("files"), sort_keys=True).encode())
        return h.hexdigest()
    for f in sorted(p for p in run.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(run)}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def fingerprint(teacher: Path, units: Sequence[Unit], options: dict[str, Any]) -> str:
    h = hashlib.sha256(run_digest(teacher).encode())
    for u in units:
        h.update(u.text.encode() + b"\0")
    h.update(json.dumps(options, sort_keys=True).encode())
    return h.hexdigest()[:16]


def reusable(stats_path: Path, file: Path, fp: str) -> dict[str, Any] | None:
    """The statistics of a complete pseudo-labels file made with fingerprint `fp`, else None."""
    try:
        stats = json.loads(stats_path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if stats.get("fingerprint") != fp or not file.is_file() or sha256_file(file) != stats.get("sha256"):
        return None
    return stats


def round_labels(cfg: Any, data: Any, k: int, teacher: Path, units: Sequence[Unit], gold: Counter) -> dict:
    """Round k's pseudo-labels by `teacher` (`cfg`: the selftrain config, `data`: the fine-tuning
    data section whose readers the file is written for): reused when made by the same teacher from
    the same units and options, else labeled, chosen and written. Returns their statistics."""
    task = cfg.task.name
    file, stats_path = paths(Path(str(cfg.output)), k, task)
    layout = [data.token_column, data.tag_column, data.scheme, data.text_column, data.label_column]
    options = {
        "select": cfg.select.model_dump(),
        "seed": cfg.seed,
        "gold": sorted(gold.items()),
        "layout": layout,
    }
    fp = fingerprint(teacher, units, options)
    stats = reusable(stats_path, file, fp)
    if stats is not None:
        log.info("round %d: reusing the pseudo-labels %s", k, file)
        return stats
    records = label(teacher, units, cfg.label_batch_size)
    kept, chosen = choose(task, records, gold, cfg.select, cfg.seed)
    made = {"round": k, "teacher": str(teacher.resolve()), "fingerprint": fp, **chosen}
    stats = write(file, stats_path, records, kept, data, made)
    log.info("round %d: %d pseudo-labeled of %d (%s)", k, stats["kept"], stats["seen"], file)
    return stats


def label(teacher: Path, units: Sequence[Unit], batch_size: int) -> list[dict[str, Any]]:
    """The teacher's prediction record for every unit, as `predict` returns it."""
    from rawtune.artifacts.run import load_run

    loaded = load_run(teacher, dtype="auto")  # as `predict` runs it: the labels predict would give
    records: list[dict[str, Any]] = []
    for start in range(0, len(units), _CHUNK):
        records += loaded.predict([u.text for u in units[start : start + _CHUNK]], batch_size=batch_size)
        log.info("labeled %d of %d units with %s", len(records), len(units), teacher)
    return records


def choose(
    task: str, records: list[dict[str, Any]], gold: Counter, select: Any, seed: int
) -> tuple[list[int], dict]:
    if task == "ner":
        return select_ner(records, gold, select, seed)
    return select_classes(records, gold, select)


def gold_counts(task: str, train: Any) -> Counter:
    """Entity mentions per type (NER) or examples per class in the training set."""
    if task == "ner":
        from rawtune.data.labels import get_entities

        return Counter(t for ex in train.examples for t, _, _ in get_entities(list(ex.tags)))
    return Counter(ex.label for ex in train.examples)


def write(
    file: Path, stats_path: Path, records: list[dict[str, Any]], kept: list[int], data: Any, stats: dict
) -> dict[str, Any]:
    """The pseudo-labels file, then its statistics (with the file's sha256) last."""
    file.parent.mkdir(parents=True, exist_ok=True)
    rows = [records[i] for i in kept]
    write_text(file, _conll(rows, data) if file.suffix == ".conll" else _csv(rows, data))
    fault("selftrain.labels", file)
    stats = {**stats, "file": file.name, "sha256": sha256_file(file)}
    write_json(stats_path, stats)
    return stats


def conll_layout(token_column: int, tag_column: int) -> tuple[int, int, int]:
    """(columns per line, word position, tag position) of the narrowest line in which
    `token_column` and `tag_column` (negative: from the end) name two different columns."""
    for width in range(2, max(abs(token_column), abs(tag_column)) + 3):
        word, tag = token_column % width, tag_column % width
        if word != tag and -width <= min(token_column, tag_column) and max(token_column, tag_column) < width:
            return width, word, tag
    raise ValueError(f"data.token_column {token_column} and data.tag_column {tag_column} name one column")


def _conll(rows: list[dict[str, Any]], data: Any) -> str:
    from rawtune.data.labels import iob2_to_bioes

    width, word, tag = conll_layout(data.token_column, data.tag_column)
    out = io.StringIO()
    for r in rows:
        tags = iob2_to_bioes(r["tags"]) if data.scheme == "bioes" else r["tags"]
        for w, t in zip(r["tokens"], tags):
            cols = ["_"] * width
            cols[word], cols[tag] = w, t
            out.write(" ".join(cols) + "\n")
        out.write("\n")
    return out.getvalue()


def _csv(rows: list[dict[str, Any]], data: Any) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([data.text_column, data.label_column])
    for r in rows:
        w.writerow([r["text"], r["label"]])
    return out.getvalue()
