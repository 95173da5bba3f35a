"""Weighted training files beside `data.train` (`data.extra_train`, `data.extra_weight`): examples
that are worth less than gold ones, such as the pseudo-labels `rawtune selftrain` writes. They are
read exactly as `data.train` is (same task, same reader settings), must use only its labels, and
join the training set with their loss weight (`TokenExample.weight`, `TextExample.weight`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from rawtune.errors import ConfigError, ConfigIssue, DataError

log = logging.getLogger("rawtune")


def with_extra_train(task: Any, train: Any, data_cfg: Any, space: Any) -> Any:
    """`train` with the examples of every `data_cfg.extra_train` file added after its own, each
    weighted `data_cfg.extra_weight`. A file's documents are numbered after those already there, so
    document context never joins a sentence of one file to a document of another."""
    if not getattr(task, "weighted_examples", False):
        raise ConfigError(
            [ConfigIssue("data.extra_train", f"not available for task {task.name} (ner, classification)")]
        )
    examples = list(train.examples)
    weight = data_cfg.extra_weight
    for path in data_cfg.extra_train:
        extra = task.read(str(path))
        if not extra.examples:
            raise DataError("no examples", file=extra.file)
        task.check_labels(space, extra, "data.extra_train")
        offset = 1 + max(
            (d for d in (getattr(ex, "doc", None) for ex in examples) if d is not None), default=-1
        )
        for ex in extra.examples:
            doc = getattr(ex, "doc", None)
            moved = {"doc": doc + offset} if doc is not None else {}
            examples.append(dataclasses.replace(ex, weight=weight, **moved))
        log.info("%s: %d more training examples at weight %g", extra.file, len(extra.examples), weight)
    return dataclasses.replace(train, examples=examples)
