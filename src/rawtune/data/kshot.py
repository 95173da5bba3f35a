"""K-shot samples for few-shot studies: k examples of every class, or NER sentences covering every
entity type at least k times. Each draw is a pure function of (the examples in file order, k, seed),
and the sample comes back in file order, so the lines drawn can be recorded and the run repeated."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rawtune.errors import DataError


def _file_of(examples: Sequence[Any]) -> str | None:
    return getattr(examples[0], "file", None) if examples else None


def sample_per_class(examples: Sequence[Any], k: int, seed: int) -> list[Any]:
    """Exactly `k` examples of every single-label class. Each class is drawn with its own generator
    seeded by (seed, label), so one class's draw does not depend on which other classes exist.
    A class with fewer than k examples is refused, naming the class and its count."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    by_class: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        if not isinstance(ex.label, str):
            raise DataError(
                f"k-shot sampling needs one label per example, got {ex.label!r}",
                file=getattr(ex, "file", None),
                line=getattr(ex, "line", None),
            )
        by_class.setdefault(ex.label, []).append(i)
    short = {lab: len(ix) for lab, ix in by_class.items() if len(ix) < k}
    if short:
        detail = ", ".join(f"'{lab}' has {n}" for lab, n in sorted(short.items()))
        raise DataError(f"{k} examples per class are needed, but class {detail}", file=_file_of(examples))
    keep: list[int] = []
    for label in sorted(by_class):
        keep += random.Random(f"{seed}:{label}").sample(by_class[label], k)
    return [examples[i] for i in sorted(keep)]


def entity_types(tags: Sequence[str] | None) -> set[str]:
    """The entity types a sentence's IOB2 tags mention (B-X and I-X both count for X)."""
    return {t.split("-", 1)[1] for t in tags or () if t != "O" and "-" in t}


def sample_ner_sentences(examples: Sequence[Any], k: int, seed: int) -> list[Any]:
    """The greedy few-shot NER protocol (Yang & Katiyar 2020): sentences in a seeded order are added
    while they bring an entity type still seen in fewer than k sampled sentences; then sentences
    whose removal keeps every type at k or more are dropped (last added first). Every entity type
    appears in at least k sampled sentences; a type found in fewer than k sentences is refused."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    types = [entity_types(ex.tags) for ex in examples]
    total = Counter(t for ts in types for t in ts)
    short = {t: n for t, n in total.items() if n < k}
    if short:
        detail = ", ".join(f"'{t}' is in {n}" for t, n in sorted(short.items()))
        raise DataError(
            f"{k} sentences per entity type are needed, but type {detail}", file=_file_of(examples)
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    count: Counter[str] = Counter()
    chosen: list[int] = []
    for i in order:
        if any(count[t] < k for t in types[i]):
            chosen.append(i)
            count.update(types[i])
        if all(count[t] >= k for t in total):
            break
    for i in reversed(list(chosen)):
        if all(count[t] - 1 >= k for t in types[i]):
            chosen.remove(i)
            count.subtract(types[i])
    return [examples[i] for i in sorted(chosen)]
