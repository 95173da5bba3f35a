"""The `rawtune augment` config: a labeled file (CoNLL/JSONL for NER, CSV/TSV/JSONL for
classification) read, augmented with masked-LM word replacement and entity swaps, and written in
the same format with the originals kept and `factor` copies of each."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rawtune._version import __version__
from rawtune.config.augmentation import AugmentOptions
from rawtune.config.base import STAGES, PathStr, Section, _dotted
from rawtune.config.schema import ModelConfig


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
        return [k for k in required if not _dotted(data, k)]
