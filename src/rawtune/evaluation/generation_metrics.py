"""Metrics of generated text against references, all on a 0-100 scale: ROUGE-1/2/L F-measure
(Google's rouge-score, Porter stemming, the mean over examples; with several references the best
one), corpus BLEU and chrF (sacrebleu, its default 13a tokenisation, every reference), and exact
match (any reference). An example's reference is a string or a sequence of them. Nothing here downloads anything; rouge-score and
sacrebleu are the `gen` extra."""

from __future__ import annotations

import math
from collections.abc import Sequence

Refs = Sequence[Sequence[str]]  # each example's references (one or more)
_EXTRA = "pip install 'rawtune[gen]'"


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"generation metrics need {module.split('.')[0]}: {_EXTRA}") from None


def _rouge(predictions: Sequence[str], references: Refs) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2, ROUGE-L F-measure. rouge-score's tokenizer keeps only ASCII letters and
    digits (lowercased): text in other scripts scores 0 here, use chrF for it."""
    scorer_mod = _need("rouge_score.rouge_scorer")
    keys = ("rouge1", "rouge2", "rougeL")
    scorer = scorer_mod.RougeScorer(list(keys), use_stemmer=True)
    sums = dict.fromkeys(keys, 0.0)
    for pred, ref in zip(predictions, references, strict=True):
        scores = scorer.score(ref[0], pred) if len(ref) == 1 else scorer.score_multi(list(ref), pred)
        for k in keys:
            sums[k] += scores[k].fmeasure
    n = max(len(predictions), 1)
    return {k: 100.0 * v / n for k, v in sums.items()}


def _streams(references: Refs) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, None where an example has fewer."""
    k = max(len(r) for r in references)
    return [[r[i] if i < len(r) else None for r in references] for i in range(k)]


def _bleu(predictions: Sequence[str], references: Refs) -> dict[str, float]:
    sacrebleu = _need("sacrebleu")
    return {"bleu": float(sacrebleu.corpus_bleu(list(predictions), _streams(references)).score)}


def _chrf(predictions: Sequence[str], references: Refs) -> dict[str, float]:
    sacrebleu = _need("sacrebleu")
    return {"chrf": float(sacrebleu.corpus_chrf(list(predictions), _streams(references)).score)}


def _exact_match(predictions: Sequence[str], references: Refs) -> dict[str, float]:
    """Percent of predictions equal to a reference after stripping surrounding whitespace."""
    hits = sum(
        any(p.strip() == r.strip() for r in refs) for p, refs in zip(predictions, references, strict=True)
    )
    return {"exact_match": 100.0 * hits / max(len(predictions), 1)}


METRIC_SETS = {"rouge": _rouge, "bleu": _bleu, "chrf": _chrf, "exact_match": _exact_match}


def generation_metrics(
    predictions: Sequence[str], references: Sequence[str | Sequence[str]], sets: Sequence[str]
) -> dict[str, float]:
    """The metric sets named in `sets` ("rouge", "bleu", "chrf", "exact_match")."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if any(not r for r in refs):
        raise ValueError("an example without a reference")
    out: dict[str, float] = {}
    for name in sets:
        out.update(METRIC_SETS[name](predictions, refs))
    return out


def perplexity(mean_loss: float) -> float:
    """exp of the mean token cross-entropy (capped so that a diverged model gives a number)."""
    return math.exp(min(mean_loss, 700.0))
