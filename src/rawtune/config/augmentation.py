"""The options of data augmentation, shared by `rawtune augment` (the stage config in
`config/augment.py`) and `rawtune finetune --augment N` (the `augment` section of its config).
Kept apart from the stage config so the fine-tuning schema can hold them without an import cycle."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from rawtune.config.base import PathStr, Section

METHODS = ("mlm", "swap")


class AugmentOptions(Section):
    factor: int = Field(
        0, ge=0, le=100, description="Augmented copies of each example, kept beside the original (0: off)."
    )
    methods: list[Literal["mlm", "swap"]] = Field(
        default_factory=lambda: ["mlm"],
        min_length=1,
        description="mlm: replace non-entity words with masked-LM samples; swap: replace NER entity "
        "mentions with mentions of the same type from the same file (NER only; skipped for tables; "
        "`rawtune augment --entity-swap` adds it).",
    )
    fraction: float = Field(
        0.15, gt=0.0, le=1.0, description="mlm: fraction of the replaceable words changed in each copy."
    )
    swap_prob: float = Field(
        0.3, ge=0.0, le=1.0, description="swap: chance that each entity mention is swapped."
    )
    top_k: int = Field(20, ge=1, description="mlm: sample from the k most likely valid replacement words.")
    temperature: float = Field(1.0, gt=0.0, description="mlm: softmax temperature of the sampling.")
    batch_size: int = Field(32, ge=1, description="mlm: sentences per masked-LM forward pass.")
    max_length: int = Field(256, ge=16, le=8192, description="mlm: tokens per input; words past it stay.")
    seed: int | None = Field(None, description="Seed of the augmentation (default: the run's seed).")

    @field_validator("methods", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError(f"duplicate methods in {value}")
        return value


class FinetuneAugment(AugmentOptions):
    """`rawtune finetune --augment N`: the training split (only) gets N augmented copies per example."""

    model: PathStr | None = Field(
        None,
        description="Masked LM for the mlm method: hub id, save_pretrained dir or pretrain run "
        "(default: model.name_or_path, which must then have its MLM head).",
    )
