"""What the labeled data looked like: per split, the label distribution (entities per type and tags
for NER, examples per class otherwise), lengths in words and in model tokens, windows made from
inputs longer than max_length, and the repairs the reader made. Written to RUN/data_stats.json by
fine-tuning and shown in the run's report: a skewed label set or truncated inputs explain a metric
better than any curve."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any


def _lengths(values: list[int]) -> dict[str, Any]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 2),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
    }


def _entities(tags: list[str]) -> list[str]:
    """Entity types in order of their B- tags (IOB2 after reading)."""
    return [t[2:] for t in tags if t.startswith("B-")]


def split_statistics(data: Any) -> dict[str, Any]:
    """Statistics of one read split (TokenData or TextData)."""
    examples = data.examples
    out: dict[str, Any] = {"file": data.file, "examples": len(examples)}
    if examples and hasattr(examples[0], "question"):  # extractive QA
        out["words"] = _lengths([len(e.question.split()) + len(e.context.split()) for e in examples])
        out["context_words"] = _lengths([len(e.context.split()) for e in examples])
        out["unanswerable"] = sum(1 for e in examples if e.answers == ())
        out["answer_repairs"] = getattr(data, "answer_repairs", 0)
    elif examples and hasattr(examples[0], "head"):  # relations: one entity pair each
        out["words"] = _lengths([len(e.text.split()) for e in examples])
        out["labels"] = dict(Counter(e.label for e in examples if e.label is not None).most_common())
        types = Counter(f"{e.head.type or '-'} -> {e.tail.type or '-'}" for e in examples)
        out["entity_type_pairs"] = dict(types.most_common())
    elif examples and hasattr(examples[0], "tokens"):
        tagged = [e.tags or [] for e in examples]
        out["words"] = _lengths([len(e.tokens) for e in examples])
        out["entities"] = dict(Counter(t for tags in tagged for t in _entities(tags)).most_common())
        out["tags"] = dict(Counter(t for tags in tagged for t in tags).most_common())
        out["sentences_without_entities"] = sum(1 for tags in tagged if not _entities(tags))
        out["scheme"] = getattr(data, "scheme", None)
        out["documents"] = getattr(data, "n_docs", 0)
    elif examples and hasattr(examples[0], "source"):  # generation: source -> target
        out["words"] = _lengths([len(e.source.split()) for e in examples])
        out["target_words"] = _lengths([len((e.target or "").split()) for e in examples])
    else:
        labels: Counter[str] = Counter()
        for e in examples:
            if isinstance(e.label, list):
                labels.update(e.label)
            elif isinstance(e.label, str):
                labels[e.label] += 1
        out["words"] = _lengths([len(e.text.split()) + len((e.text_b or "").split()) for e in examples])
        if labels:
            out["labels"] = dict(labels.most_common())
        else:
            values = [float(e.label) for e in examples if isinstance(e.label, (int, float))]
            if values:
                out["targets"] = {"min": min(values), "mean": statistics.fmean(values), "max": max(values)}
    out["repairs"] = getattr(data, "repairs", 0)
    return out


def data_statistics(
    splits: dict[str, Any], train_features: list[dict[str, Any]] | None = None, max_length: int | None = None
) -> dict[str, Any]:
    """{split: statistics}; with the training features, the model-token lengths of the training
    windows and how many inputs were longer than `max_length` (split into several windows)."""
    stats = {name: split_statistics(data) for name, data in splits.items()}
    if train_features is not None and "train" in stats:
        lengths = [len(f["input_ids"]) for f in train_features]
        stats["train"]["model_tokens"] = _lengths(lengths)
        stats["train"]["windows"] = len(train_features)
        stats["train"]["max_length"] = max_length
        stats["train"]["windows_at_max_length"] = sum(1 for n in lengths if max_length and n >= max_length)
    return stats
