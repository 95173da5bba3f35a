"""The `rawtune compress` config: what to compress, the accuracy/speed gate, how to measure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rawtune import __version__
from rawtune.config.base import PathStr, Section, _dotted


class GateConfig(Section):
    max_metric_drop: float | None = Field(
        None,
        ge=0.0,
        description="Largest accepted drop of the task metric, in points (F1 0.91 -> 0.90 is 1.0).",
    )
    min_speedup: float | None = Field(
        None, gt=0.0, description="Smallest accepted batch-1 CPU speedup over the parent (e.g. 1.5)."
    )


class MeasureConfig(Section):
    threads: int | None = Field(None, ge=1, description="torch CPU threads while timing (default: torch's).")
    repeats: int = Field(3, ge=1, description="Timing repeats (medians reported).")
    latency_examples: int = Field(32, ge=1, description="Dev inputs timed one at a time per repeat.")
    batch_size: int = Field(32, ge=1, description="Batch size of the throughput measurement.")
    probe_examples: int = Field(256, ge=1, description="Dev inputs used for timing.")
    max_length: int = Field(128, ge=8, description="Tokens per timed input at most.")


class CompressConfig(Section):
    """`rawtune compress`: a compressed copy of a fine-tuned run, measured against it and gated."""

    stage: Literal["compress"] = "compress"
    rawtune_version: str = __version__
    parent: PathStr | None = Field(None, description="The fine-tuned run to compress.")
    output: PathStr | None = Field(None, description="Run directory to create.")
    quantize: Literal["int8"] | None = Field(
        None, description="int8: dynamic int8 quantization of every linear layer (CPU)."
    )
    dev: PathStr | None = Field(
        None, description="Labeled data for the metric (default: the parent's data.dev)."
    )
    gate: GateConfig = GateConfig()
    measure: MeasureConfig = MeasureConfig()

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        return [k for k in ("parent", "output", "quantize") if not _dotted(data, k)]
