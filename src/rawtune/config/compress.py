"""The `rawtune compress` config: what to compress, the accuracy/speed gate, how to measure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rawtune._version import __version__
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.train import CompressTrainConfig


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


class DistillConfig(Section):
    """Knowledge distillation: a smaller student trained on the parent's (the teacher's) soft
    predictions at a temperature plus the hard labels, in the one training loop."""

    enabled: bool = Field(False, description="Distil the parent into a smaller student (--distill).")
    student_layers: int | None = Field(
        None,
        ge=1,
        description="Student = the teacher with this many layers, initialised from the teacher's "
        "layers (default with --distill: half the teacher's).",
    )
    student: PathStr | None = Field(
        None,
        description="Student = this smaller backbone (hub id or directory) with a new head; it must "
        "tokenize like the teacher.",
    )
    layers: list[int] | None = Field(
        None,
        description="Teacher layers (0-based) the student's layers start from and are matched to "
        "(default: evenly spaced, first and last kept).",
    )
    temperature: float = Field(2.0, gt=0.0, description="Softmax temperature of the soft targets.")
    alpha: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the soft (teacher) loss; 1 - alpha weighs the labels."
    )
    hidden_weight: float = Field(
        0.0, ge=0.0, description="Weight of the MSE between matched student and teacher hidden states."
    )
    attention_weight: float = Field(
        0.0, ge=0.0, description="Weight of the MSE between matched attention maps (same head count)."
    )
    labeled: bool = Field(True, description="Train on the labeled training data (hard + soft loss).")
    train: PathStr | None = Field(
        None, description="Labeled training data (default: the parent's data.train)."
    )
    raw_text: PathStr | None = Field(
        None,
        description="Unlabeled text (.txt, one example per line): the student learns the teacher's "
        "predictions on it (soft loss only).",
    )
    max_raw_examples: int | None = Field(None, ge=1, description="Use at most this many raw-text lines.")

    @model_validator(mode="after")
    def _implied(self) -> DistillConfig:
        if (self.student_layers or self.student) and not self.enabled:
            object.__setattr__(self, "enabled", True)
        if self.student_layers and self.student:
            raise ValueError("give either student_layers or student, not both")
        if self.layers is not None and self.student_layers and len(self.layers) != self.student_layers:
            raise ValueError(
                f"layers lists {len(self.layers)} teacher layers for {self.student_layers} student layers"
            )
        if self.enabled and not self.labeled and not self.raw_text:
            raise ValueError("nothing to distil on: labeled is false and no raw_text is given")
        return self


class PruneConfig(Section):
    spec: str | None = Field(
        None,
        description="What to prune, e.g. 'heads:0.3', 'ffn:0.2,layers:1', 'magnitude:0.5' (fractions of "
        "heads, FFN neurons, encoder weights; a count of layers).",
    )
    scope: Literal["global", "layer"] = Field(
        "global", description="magnitude: rank weights over the whole encoder or within each layer."
    )
    schedule: Literal["oneshot", "cubic"] = Field(
        "oneshot",
        description="magnitude: all at once, or ramped up during recovery training (Zhu & Gupta 2017).",
    )
    recover_epochs: float = Field(
        0.0, ge=0.0, description="Fine-tune on the parent's training data after pruning (0: none)."
    )
    importance_batches: int = Field(
        16, ge=1, description="Training batches that score heads, neurons and layers."
    )


@STAGES.register("compress")
class CompressConfig(Section):
    """`rawtune compress`: a compressed copy of a fine-tuned run, measured against it and gated."""

    stage: Literal["compress"] = "compress"
    rawtune_version: str = __version__
    parent: PathStr | None = Field(None, description="The fine-tuned run to compress.")
    output: PathStr | None = Field(None, description="Run directory to create.")
    quantize: Literal["int8"] | None = Field(
        None,
        description="int8: dynamic int8 quantization of every linear layer (CPU); with onnx, "
        "onnxruntime's int8 quantization of the ONNX graph.",
    )
    keep_fp32: list[str] = Field(
        [],
        description="--quantize int8 (torch): regular expressions of linear layers left in fp32, e.g. "
        "'layer\\.\\d+\\.output\\.dense' (the FFN outputs, whose inputs int8 hurts most).",
    )
    onnx: bool = Field(
        False, description="Export to ONNX and run it with onnxruntime (CPU); measured and gated alike."
    )
    distill: DistillConfig = DistillConfig()
    prune: PruneConfig = PruneConfig()
    dev: PathStr | None = Field(
        None, description="Labeled data for the metric (default: the parent's data.dev)."
    )
    seed: int = 0
    train: CompressTrainConfig = Field(
        CompressTrainConfig(), description="Distillation and recovery training (the loop finetune uses)."
    )
    gate: GateConfig = GateConfig()
    measure: MeasureConfig = MeasureConfig()

    @field_validator("keep_fp32")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        import re

        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"{pattern!r} is not a regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _one_method(self) -> CompressConfig:
        if self.keep_fp32 and (self.onnx or not self.quantize):
            raise ValueError("keep_fp32 applies to torch int8 (--quantize int8 without --onnx)")
        chosen = self.methods
        if len(chosen) > 1:
            raise ValueError(
                f"one compression per run ({' and '.join(chosen)} given); chain runs instead: "
                "compress PARENT into RUN, then compress RUN"
            )
        return self

    @property
    def methods(self) -> list[str]:
        return [
            m
            for m, on in (
                ("onnx", self.onnx),
                ("quantize", self.quantize and not self.onnx),  # with onnx, an option of the export
                ("distill", self.distill.enabled),
                ("prune", self.prune.spec),
            )
            if on
        ]

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        missing = [k for k in ("parent", "output") if not get_dotted(data, k)]
        distill = any(get_dotted(data, f"distill.{k}") for k in ("enabled", "student_layers", "student"))
        if not (
            get_dotted(data, "quantize")
            or get_dotted(data, "onnx")
            or distill
            or get_dotted(data, "prune.spec")
        ):
            missing.append("quantize, onnx, distill or prune.spec")
        return missing
