"""The few-shot methods by name (`fewshot.method`). Each member module registers its method; the
registry knows their modules and imports them on first lookup, so the protocol imports none of them.

A method runs one seed: `run(cfg, seed, kshot, out, *, task, sample, splits, space, resume)` trains
(or builds) on the sample, writes the run OUTPUT/seed-N and returns its metrics.json. `trains`: it
checkpoints, so an interrupted seed continues from its last checkpoint (the nearest-neighbour
taggers have nothing to resume)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rawtune.registry import Registry


@dataclass(frozen=True)
class FewshotMethod:
    run: Callable[..., dict[str, Any]]
    trains: bool = True


FEWSHOT_METHODS: Registry[FewshotMethod] = Registry(
    "few-shot method",
    members=(
        "rawtune.fewshot.finetune",
        "rawtune.fewshot.setfit",
        "rawtune.fewshot.pet",
        "rawtune.fewshot.neighbours",
    ),
)
