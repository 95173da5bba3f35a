"""Replay: a seeded sample of earlier training examples mixed into the new ones, and the memory a
continual run keeps for the next one (RUN/replay/memory.conll or .csv: earlier examples and the new
ones, so version 3 can replay what versions 1 and 2 learned from)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rawtune.runs.atomic import write_text

MEMORY = "replay"


def sample(examples: Sequence[Any], n: int, seed: int) -> list[Any]:
    """`n` examples (all when there are fewer), in file order: a pure function of (examples, n,
    seed), and for a seed a smaller sample is contained in a larger one."""
    if n >= len(examples):
        return list(examples)
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [examples[i] for i in sorted(order[:n])]


def pseudo_labeled(task: str, example: Any, record: dict[str, Any]) -> Any:
    """An unlabeled example with the label a model predicted for it (its `predict` record).

    A model's NER tags need not be valid IOB2 (an `I-X` after `O`); they are repaired the way
    seqeval reads them (that `I-X` starts an entity), so the replay memory written from them reads
    back under the strict IOB2 check every later version applies."""
    import dataclasses

    if task == "ner":
        from rawtune.data.labels import repair_iob2

        return dataclasses.replace(example, tags=repair_iob2(record["tags"])[0])
    return dataclasses.replace(example, label=record["label"])


def mask_outside(examples: Sequence[Any]) -> list[Any]:
    """NER examples with every O tag set to UNSCORED (no loss on those words)."""
    import dataclasses

    from rawtune.tasks.ner import UNSCORED

    return [dataclasses.replace(ex, tags=[UNSCORED if t == "O" else t for t in ex.tags]) for ex in examples]


def memory_file(run: Path) -> Path | None:
    """The replay memory a continual run left, if any."""
    for name in ("memory.conll", "memory.csv"):
        path = run / MEMORY / name
        if path.is_file():
            return path
    return None


def write_memory(
    run: Path, task: str, old: Sequence[Any], new: Sequence[Any], size: int, seed: int, data_cfg: Any
) -> Path:
    """RUN/replay/memory.*: up to `size` examples, old and new in proportion to their counts."""
    total = len(old) + len(new)
    keep_old = len(old) if total <= size else round(size * len(old) / total)
    kept = sample(old, keep_old, seed) + sample(new, min(len(new), size - keep_old), seed)
    if task == "ner":
        path = run / MEMORY / "memory.conll"
        text = "".join("".join(f"{w} {t}\n" for w, t in zip(ex.tokens, ex.tags)) + "\n" for ex in kept)
    else:
        path = run / MEMORY / "memory.csv"
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([data_cfg.text_column, data_cfg.label_column])
        for ex in kept:
            w.writerow([ex.text, ex.label])
        text = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return path
