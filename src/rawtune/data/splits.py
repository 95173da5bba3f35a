"""A labeled run's splits: every file read and checked before any model is built (bad data fails in
seconds), the training subset `data.train_fraction` / `data.max_train_examples` keep, and the
fingerprint of what was read (recorded in the run and its checkpoints; `rawtune doctor` compares it
with the files as they are now)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import random
from typing import Any

from rawtune.errors import DataError

log = logging.getLogger("rawtune")


def read_splits(task: Any, cfg: Any) -> tuple[dict[str, Any], Any]:
    """The splits {"train"[, "dev"][, "test"]} of a fine-tuning config (train cut to
    data.train_fraction / max_train_examples, then data.extra_train's weighted examples added) and
    the label space, which comes from the whole training set: a 1 % subset that happens to miss a
    rare type still trains and is evaluated on the task's labels."""
    splits = {"train": task.read(cfg.data.train)}
    for name in ("dev", "test"):
        path = getattr(cfg.data, name)
        if path:
            splits[name] = task.read(path)
    for data in splits.values():
        if not data.examples:
            raise DataError("no examples", file=data.file)
        repairs = getattr(data, "repairs", 0)
        if repairs:
            log.warning("%s: repaired %d tags (I-X starting an entity -> B-X)", data.file, repairs)
    try:
        space = task.label_space(splits["train"])
    except DataError as e:
        raise e.in_file(splits["train"].file) from None
    splits["train"] = train_subset(splits["train"], cfg)
    if getattr(cfg.data, "extra_train", None):
        from rawtune.data.weighted import with_extra_train

        splits["train"] = with_extra_train(task, splits["train"], cfg.data, space)
    return splits, space


def train_subset(train: Any, cfg: Any) -> Any:
    """The training examples data.train_fraction and data.max_train_examples keep: a prefix of one
    seeded permutation, so that for a seed a smaller subset is contained in every larger one (a
    learning curve adds examples instead of drawing a new set at each point)."""
    n = len(train.examples)
    k = n
    if cfg.data.train_fraction is not None:
        k = max(1, round(n * cfg.data.train_fraction))
    if cfg.data.max_train_examples:
        k = min(k, cfg.data.max_train_examples)
    if k >= n:
        return train
    order = list(range(n))
    random.Random(cfg.seed).shuffle(order)
    keep = sorted(order[:k])
    log.info("using %d of %d training examples (data.train_fraction / max_train_examples)", k, n)
    return dataclasses.replace(train, examples=[train.examples[i] for i in keep])


def at_least_steps(cfg: Any, frac: float, n_train: int, min_steps: int) -> Any:
    """`cfg` with train.max_steps = min_steps when its epochs on this fraction of `n_train` training
    examples come to fewer steps (a handful of steps would measure too little training rather than
    too little data)."""
    if not min_steps or cfg.train.max_steps is not None:
        return cfg
    k = max(1, round(n_train * frac))
    if cfg.data.max_train_examples:
        k = min(k, cfg.data.max_train_examples)
    per_epoch = math.ceil(k / (cfg.train.batch_size * cfg.train.grad_accum))
    if math.ceil(per_epoch * cfg.train.epochs) >= min_steps:
        return cfg
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_steps": min_steps})})


def data_fingerprint(splits: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for name in sorted(splits):
        h.update(name.encode())
        for ex in splits[name].examples:
            h.update(repr(ex).encode())
    return h.hexdigest()[:16]


def with_examples(data: Any, examples: list[Any]) -> Any:
    """`data` (a split as a reader returns it) holding `examples` instead of its own."""
    return dataclasses.replace(data, examples=examples)
