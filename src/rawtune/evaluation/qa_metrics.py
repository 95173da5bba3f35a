"""Extractive QA metrics as the official SQuAD evaluation scripts define them.

Answers are normalised (lowercase, punctuation removed, the articles a/an/the removed, whitespace
collapsed); exact match and token F1 take the best over the gold answers. A question without an
answer has the gold answer "" (SQuAD v2): an empty prediction scores 1 there and 0 elsewhere, the
v2.0 script's rule (on answerable questions it is the v1.1 script's result). Scores are percentages
(0-100), as both scripts and every SQuAD table report them. With unanswerable questions in the data,
the HasAns_/NoAns_ breakdown of the v2.0 script is added, and `best_thresholds` is the v2.0 script's
threshold search (`find_best_thresh`) over the decoder's no-answer margins.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation, drop articles, collapse whitespace (the official order)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def score_question(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction, the best over its gold answers ([] means no answer)."""
    refs = list(golds) or [""]
    return max(exact_match(prediction, g) for g in refs), max(f1_score(prediction, g) for g in refs)


def qa_metrics(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float | int]:
    """`exact_match` and `f1` (0-100) over all questions; with unanswerable ones (an empty gold
    list) also HasAns_/NoAns_ exact, f1 and total."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(golds)} questions but {len(predictions)} predictions")
    if not golds:
        raise ValueError("no questions to evaluate")
    scores = [score_question(p, g) for p, g in zip(predictions, golds)]
    out: dict[str, float | int] = {**_mean(scores, ""), "total": len(scores)}
    has = [s for s, g in zip(scores, golds) if g]
    if len(has) < len(scores):
        no = [s for s, g in zip(scores, golds) if not g]
        for prefix, part in (("HasAns_", has), ("NoAns_", no)):
            out.update(_mean(part, prefix) if part else {})
            out[f"{prefix}total"] = len(part)
    return out


def _mean(scores: list[tuple[float, float]], prefix: str) -> dict[str, float]:
    n = len(scores)
    em = "exact_match" if not prefix else f"{prefix}exact"
    return {em: 100.0 * sum(e for e, _ in scores) / n, f"{prefix}f1": 100.0 * sum(f for _, f in scores) / n}


def best_thresholds(
    span_answers: Sequence[str], margins: Sequence[float], golds: Sequence[Sequence[str]]
) -> dict[str, float]:
    """The v2.0 script's search for the no-answer threshold: `best_exact`/`best_f1` (0-100) are the
    scores when the answer is empty exactly for questions whose margin (no-answer score minus best
    span score) exceeds `best_exact_thresh`/`best_f1_thresh`; pass one as `task.null_threshold`.
    Start with every answer empty and give questions their best span in increasing margin order,
    keeping the best prefix (equal scores keep the smaller threshold, as the script does). The script ranks by
    a no-answer probability; rawtune's decision is on the logit margin, so that is what is ranked."""
    if not (len(span_answers) == len(margins) == len(golds)):
        raise ValueError("span answers, margins and golds differ in length")
    order = sorted(range(len(golds)), key=lambda i: margins[i])
    finite = [margins[i] for i in order if margins[i] != float("inf")]
    out: dict[str, float] = {}
    for k, name in ((0, "exact"), (1, "f1")):
        cur = best = float(sum(1 for g in golds if not g))  # every answer empty: the unanswerable ones right
        # below every margin: all empty (the script starts at 0.0, which need not be below them)
        thresh = (finite[0] - 1.0) if finite else 0.0
        for n, i in enumerate(order):
            if margins[i] == float("inf"):
                break  # no span to give
            if golds[i]:
                cur += score_question(span_answers[i], golds[i])[k]
            elif span_answers[i]:
                cur -= 1.0  # an unanswerable question now gets an answer
            tied = n + 1 < len(order) and margins[order[n + 1]] == margins[i]
            if not tied and cur > best:  # a threshold answers every question of a tie or none
                best, thresh = cur, margins[i]
        out[f"best_{name}"] = 100.0 * best / len(golds)
        out[f"best_{name}_thresh"] = thresh
    return out
