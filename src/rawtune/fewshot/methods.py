"""The few-shot methods by name (`fewshot.method`). Each member module registers its method; the
registry knows their modules and imports them on first lookup, so the protocol imports none of them.

A method runs one seed: `run(SeedSample)` trains (or builds) on the sample, writes the run
OUTPUT/seed-N and returns its metrics.json. `trains`: it checkpoints, so an interrupted seed continues
from its last checkpoint (the nearest-neighbour taggers have nothing to resume)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.registry import Registry


@dataclass(frozen=True)
class SeedSample:
    """One seed of a study: the sample a method learns from and where its run goes."""

    cfg: Any  # the study's FewshotConfig
    seed: int
    kshot: dict[str, Any]  # the draw's record: OUTPUT/kshot/seed-N file, pool lines, labels
    out: Path  # OUTPUT/seed-N
    task: Any
    sample: list[Any]  # the k-shot examples (and the label descriptions)
    splits: dict[str, Any]  # "pool", "dev"[, "test"]
    space: Any
    resume: bool  # continue OUTPUT/seed-N from its last verified checkpoint


@dataclass(frozen=True)
class FewshotMethod:
    run: Callable[[SeedSample], dict[str, Any]]
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
