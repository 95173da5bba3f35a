"""Which of a teacher's predictions become pseudo-labels: pure functions of the prediction records
(as `predict` returns them), the labeled training set's label counts and `select` options.

NER keeps sentences whose every entity scores at least `threshold` (an entity's score as `predict`
reports it: the mean probability of its words' tags), most confident first (a sentence's confidence
is its weakest entity's score), while no entity type exceeds its cap: `per_label` mentions per
mention of the type in the training set (and at most `max_per_label`), so one frequent type does not
swamp the rest. Sentences without entities carry no score (a missed entity hides there), so they
make at most `entity_free` of the kept sentences, drawn at random with the seed.

Classification keeps texts whose most likely class has probability at least `threshold`, most
confident first, each class capped like a type; with `balance`, the classes keep the training set's
proportions, at the largest scale that every class with a confident prediction can fill.

Each returns the indices of the kept records, in input order, and the statistics written beside the
pseudo-labels; nothing kept is a DataError that gives the numbers."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rawtune.errors import DataError

Record = Mapping[str, Any]


def label_cap(gold: int, per_label: float, max_per_label: int | None) -> int:
    """A type's (class's) cap: `per_label` per training occurrence (one counted for a label the
    training subset lacks), at least 1, at most `max_per_label`."""
    cap = max(1, math.ceil(per_label * max(gold, 1)))
    return min(cap, max_per_label) if max_per_label else cap


def select_ner(
    records: Sequence[Record], gold: Mapping[str, int], cfg: Any, seed: int
) -> tuple[list[int], dict[str, Any]]:
    """Kept sentences (indices into `records`) and statistics; `gold`: entity mentions per type in
    the training set."""
    with_entities = [i for i, r in enumerate(records) if r["entities"]]
    free = [i for i, r in enumerate(records) if not r["entities"]]
    weakest = {i: min(e["score"] for e in records[i]["entities"]) for i in with_entities}
    passed = sorted((i for i in with_entities if weakest[i] >= cfg.threshold), key=lambda i: (-weakest[i], i))
    types = sorted(set(gold) | {e["type"] for r in records for e in r["entities"]})
    caps = {t: label_cap(gold.get(t, 0), cfg.per_label, cfg.max_per_label) for t in types}
    kept_mentions: Counter = Counter()
    kept, capped = [], 0
    for i in passed:
        mentions = Counter(e["type"] for e in records[i]["entities"])
        if all(kept_mentions[t] + n <= caps[t] for t, n in mentions.items()):
            kept_mentions.update(mentions)
            kept.append(i)
        else:
            capped += 1
    if not kept:
        raise DataError(_none_ner(len(records), len(with_entities), max(weakest.values(), default=None), cfg))
    n_free = min(len(free), math.floor(cfg.entity_free / (1 - cfg.entity_free) * len(kept)))
    kept_free = random.Random(seed).sample(free, n_free)
    mentions_of = _mentions(records, range(len(records)))
    passing_of = _mentions(records, passed)
    stats = {
        "threshold": cfg.threshold,
        "seen": len(records),
        "kept": len(kept) + n_free,
        "with_entities": {"seen": len(with_entities), "passed": len(passed), "kept": len(kept)},
        "entity_free": {"seen": len(free), "kept": n_free, "max_share": cfg.entity_free},
        "dropped_by_caps": capped,
        "types": {
            t: {
                "gold": gold.get(t, 0),
                "predicted": mentions_of[t],
                "passed": passing_of[t],
                "kept": kept_mentions[t],
                "cap": caps[t],
            }
            for t in types
        },
    }
    return sorted(kept + kept_free), stats


def _mentions(records: Sequence[Record], indices: Any) -> Counter:
    return Counter(e["type"] for i in indices for e in records[i]["entities"])


def _none_ner(n: int, with_entities: int, best: float | None, cfg: Any) -> str:
    if best is None:
        return f"no pseudo-labels: the teacher found no entity in any of the {n} sentences"
    if best < cfg.threshold:
        return (
            f"no pseudo-labels: select.threshold {cfg.threshold:g} is above every sentence's weakest "
            f"entity score (the best is {best:.4f}; the teacher found entities in {with_entities} of "
            f"{n} sentences); lower the threshold"
        )
    return f"no pseudo-labels: every sentence that passes select.threshold {cfg.threshold:g} exceeds a type's cap"


def select_classes(
    records: Sequence[Record], gold: Mapping[str, int], cfg: Any
) -> tuple[list[int], dict[str, Any]]:
    """Kept texts (indices into `records`) and statistics; `gold`: examples per class in the
    training set."""
    conf = [float(r["scores"][r["label"]]) for r in records]
    classes = sorted(set(gold) | {r["label"] for r in records})
    passing: dict[str, list[int]] = {c: [] for c in classes}
    for i in sorted(range(len(records)), key=lambda i: (-conf[i], i)):
        if conf[i] >= cfg.threshold:
            passing[records[i]["label"]].append(i)
    if not any(passing.values()):
        raise DataError(
            f"no pseudo-labels: select.threshold {cfg.threshold:g} is above the teacher's most likely "
            f"class probability on every one of the {len(records)} texts (the best is "
            f"{max(conf, default=0.0):.4f}); lower the threshold"
        )
    caps = {c: label_cap(gold.get(c, 0), cfg.per_label, cfg.max_per_label) for c in classes}
    target = {c: min(len(passing[c]), caps[c]) for c in classes}
    scale = None
    if cfg.balance:
        scale = min(len(p) / max(gold.get(c, 0), 1) for c, p in passing.items() if p)
        for c in classes:
            if passing[c]:
                target[c] = min(target[c], max(1, round(scale * max(gold.get(c, 0), 1))))
    kept = sorted(i for c in classes for i in passing[c][: target[c]])
    predicted = Counter(r["label"] for r in records)
    stats = {
        "threshold": cfg.threshold,
        "seen": len(records),
        "passed": sum(len(p) for p in passing.values()),
        "kept": len(kept),
        "balance": cfg.balance,
        "scale": scale,
        "classes": {
            c: {
                "gold": gold.get(c, 0),
                "predicted": predicted[c],
                "passed": len(passing[c]),
                "kept": target[c],
                "cap": caps[c],
            }
            for c in classes
        },
    }
    return kept, stats
