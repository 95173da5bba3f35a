"""Data augmentation's options, in one home. `AugmentOptions` are shared by `rawtune augment`
(`AugmentConfig`, the stage config) and `rawtune finetune --augment N` (`FinetuneAugment`, the
`augment` section of the fine-tuning config). `rawtune augment` reads a labeled file (CoNLL/JSONL for
NER, CSV/TSV/JSONL for classification), augments it with masked-LM word replacement and entity
swaps, and writes it in the same format with the originals kept and `factor` copies of each."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from rawtune._version import __version__
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.model import ModelConfig

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


class AugmentDataConfig(Section):
    task: Literal["auto", "ner", "classification"] = Field(
        "auto",
        description="auto: .csv/.tsv are classification tables, a .jsonl with a 'tokens' field and "
        "anything else are NER token files.",
    )
    token_column: int = Field(0, description="CoNLL: column of the word.")
    tag_column: int = Field(-1, description="CoNLL: column of the tag (negative counts from the end).")
    scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field(
        "auto", description="Tag scheme of the input; augmented copies are written in the same scheme."
    )
    repair_tags: bool = Field(False, description="Turn an I-X that starts an entity into B-X (counted).")
    tokens_field: str = Field("tokens", description="NER JSONL: field of the words.")
    tags_field: str = Field("tags", description="NER JSONL: field of the tags.")
    text_column: str = Field("text", description="Tables: the column augmented.")
    label_column: str = Field("label", description="Tables: the label column (copied unchanged).")


@STAGES.register("augment")
class AugmentConfig(AugmentOptions):
    """`rawtune augment`: write an augmented copy of a labeled file."""

    stage: Literal["augment"] = "augment"
    rawtune_version: str = __version__
    seed: int = 42
    factor: int = Field(1, ge=1, le=100, description="Augmented copies of each example (originals kept).")
    input: PathStr | None = Field(None, description="Labeled file to augment.")
    output: PathStr | None = Field(None, description="File to write (same format as the input).")
    overwrite: bool = Field(False, description="Replace an existing output file.")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: torch's choice.")
    model: ModelConfig = ModelConfig()
    data: AugmentDataConfig = AugmentDataConfig()

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        required = ["input", "output"]
        methods = data.get("methods")
        if methods is None or "mlm" in (methods.split(",") if isinstance(methods, str) else methods):
            required.append("model.name_or_path")
        return [k for k in required if not get_dotted(data, k)]
