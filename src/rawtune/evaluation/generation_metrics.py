"""Metrics of generated text against references, all on a 0-100 scale: ROUGE-1/2/L F-measure
(Google's rouge-score, Porter stemming, the mean over examples), corpus BLEU and chrF (sacrebleu,
its default 13a tokenisation), and exact match. Nothing here downloads anything; rouge-score and
sacrebleu are the `gen` extra."""

from __future__ import annotations

import math
from collections.abc import Sequence

_EXTRA = "pip install 'rawtune[gen]'"


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"generation metrics need {module.split('.')[0]}: {_EXTRA}") from None


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2, ROUGE-L F-measure. rouge-score's tokenizer keeps only ASCII letters and
    digits (lowercased): text in other scripts scores 0 here, use chrF for it."""
    scorer_mod = _need("rouge_score.rouge_scorer")
    keys = ("rouge1", "rouge2", "rougeL")
    scorer = scorer_mod.RougeScorer(list(keys), use_stemmer=True)
    sums = dict.fromkeys(keys, 0.0)
    for pred, ref in zip(predictions, references, strict=True):
        scores = scorer.score(ref, pred)
        for k in keys:
            sums[k] += scores[k].fmeasure
    n = max(len(predictions), 1)
    return {k: 100.0 * v / n for k, v in sums.items()}


def bleu(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    sacrebleu = _need("sacrebleu")
    return {"bleu": float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)}


def chrf(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    sacrebleu = _need("sacrebleu")
    return {"chrf": float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)}


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Percent of predictions equal to their reference after stripping surrounding whitespace."""
    hits = sum(p.strip() == r.strip() for p, r in zip(predictions, references, strict=True))
    return {"exact_match": 100.0 * hits / max(len(predictions), 1)}


METRIC_SETS = {"rouge": rouge, "bleu": bleu, "chrf": chrf, "exact_match": exact_match}


def generation_metrics(
    predictions: Sequence[str], references: Sequence[str], sets: Sequence[str]
) -> dict[str, float]:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    out: dict[str, float] = {}
    for name in sets:
        out.update(METRIC_SETS[name](predictions, references))
    return out


def perplexity(mean_loss: float) -> float:
    """exp of the mean token cross-entropy (capped so that a diverged model gives a number)."""
    return math.exp(min(mean_loss, 700.0))
