"""Relation extraction scores, as TACRED and SemEval-2010 Task 8 report them: the no-relation label
is not a relation, so it is left out of precision, recall and F1.

- micro: over all pairs, a prediction counts when it is a relation (not no-relation); it is
  correct when it equals the gold label. precision = correct / predicted relations, recall =
  correct / gold relations.
- macro: the mean F1 over the relation labels (no-relation excluded) present in gold or
  predictions.
- per_class: precision, recall, F1 and support of every relation label, no-relation included for
  reference (its row is not part of any average); `accuracy` counts every pair.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def relation_metrics(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], no_relation: str
) -> dict[str, Any]:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} pairs but pred has {len(pred)}")
    if not gold:
        raise ValueError("no pairs to evaluate")
    unknown = sorted({*gold, *pred} - set(labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the label set {list(labels)}")
    hits = {lab: 0 for lab in labels}
    n_gold = {lab: 0 for lab in labels}
    n_pred = {lab: 0 for lab in labels}
    for g, p in zip(gold, pred):
        n_gold[g] += 1
        n_pred[p] += 1
        hits[g] += g == p
    pairs = Counter(zip(gold, pred))
    rel = [lab for lab in labels if lab != no_relation]
    mp, mr, mf = _prf(sum(hits[r] for r in rel), sum(n_pred[r] for r in rel), sum(n_gold[r] for r in rel))
    per_class = {}
    for lab in labels:
        p, r, f = _prf(hits[lab], n_pred[lab], n_gold[lab])
        per_class[lab] = {"precision": p, "recall": r, "f1": f, "support": n_gold[lab]}
    present = [r for r in rel if n_gold[r] or n_pred[r]]
    macro = sum(per_class[r]["f1"] for r in present) / len(present) if present else 0.0
    return {
        "micro_f1": mf,
        "micro_precision": mp,
        "micro_recall": mr,
        "macro_f1": macro,
        "accuracy": sum(hits.values()) / len(gold),
        "no_relation": no_relation,
        "per_class": per_class,
        "confusion": {
            "labels": list(labels),
            "matrix": [[pairs[(a, b)] for b in labels] for a in labels],
        },
        "n": len(gold),
    }
