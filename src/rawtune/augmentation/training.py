"""The on-the-fly augmentation of a fine-tuning run's training split (`rawtune finetune --augment N`):
each example followed by its N augmented copies, dev and test never touched."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from rawtune.errors import DataError

log = logging.getLogger("rawtune")


def augment_training_data(task: Any, cfg: Any, data: Any) -> tuple[Any, dict[str, Any]]:
    """`rawtune finetune --augment N`: the training split with N copies of every example after its
    original (dev and test are never augmented), and the counts."""
    from rawtune.augmentation.mlm import load_replacer
    from rawtune.augmentation.plan import Sentence, augment

    a = cfg.data.augment
    if task.name not in ("ner", "classification"):
        raise DataError(
            f"--augment: not available for task {task.name} (ner, classification)", file=data.file
        )
    ner = task.name == "ner"
    if ner:
        sentences = [Sentence(list(ex.tokens), list(ex.tags)) for ex in data.examples]
    else:
        from rawtune.data.words import split_words

        split = [split_words(ex.text) for ex in data.examples]
        sentences = [Sentence([w for w, _, _ in words]) for words in split]
    replacer = None
    model_name = a.model or cfg.model.name_or_path
    if "mlm" in a.methods:
        alt = "--augment-model with a masked LM" + (", or --data.augment.methods=swap" if ner else "")
        replacer = load_replacer(model_name, cfg.model, a, alt)
    start = time.perf_counter()
    copies, counts = augment(
        sentences,
        factor=a.factor,
        methods=list(a.methods),
        seed=cfg.seed if a.seed is None else a.seed,
        fraction=a.fraction,
        swap_prob=a.swap_prob,
        replacer=replacer,
        batch_size=a.batch_size,
    )
    by_example: dict[int, list[Any]] = {}
    for cp in copies:
        by_example.setdefault(cp.example, []).append(cp)
    examples = []
    for e, ex in enumerate(data.examples):
        examples.append(ex)
        for cp in by_example.get(e, []):
            if ner:
                examples.append(dataclasses.replace(ex, tokens=cp.words, tags=cp.tags, spans=None))
            else:
                from rawtune.augmentation.formats import replaced_text

                spans = [(a0, b0) for _, a0, b0 in split[e]]
                examples.append(dataclasses.replace(ex, text=replaced_text(ex.text, spans, cp)))
    stats = {**counts.summary(), "model": model_name if replacer else None,
             "seconds": round(time.perf_counter() - start, 3)}  # fmt: skip
    log.info(
        "augmented the training set: %d -> %d examples (%d words replaced, %.3f of the replaceable; "
        "%d entities swapped)",
        counts.examples_in,
        counts.examples_out,
        counts.words_replaced,
        stats["fraction_replaced"],
        counts.entities_swapped,
    )
    return dataclasses.replace(data, examples=examples), stats
