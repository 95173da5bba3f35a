"""The `tuning` section of a fine-tuning config: which tuning method trains which parameters, the
options each method takes, and each method's default learning rate."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rawtune.config.base import Section

TUNING_METHODS = ("full", "freeze", "bitfit", "lora", "ia3", "prompt", "prefix", "adapter")

# which explicitly set option belongs to which methods (set for another method: an error naming it)
_TUNING_OPTIONS: dict[str, tuple[str, ...]] = {
    "freeze_embeddings": ("full", "freeze"),
    "freeze_layers": ("full", "freeze"),
    "head_only": ("full", "freeze"),
    "gradual_unfreeze": ("full", "freeze"),
    "lora_r": ("lora",),
    "lora_alpha": ("lora",),
    "lora_dropout": ("lora",),
    "use_dora": ("lora",),
    "use_rslora": ("lora",),
    "target_modules": ("lora", "ia3"),
    "feedforward_modules": ("ia3",),
    "num_virtual_tokens": ("prompt", "prefix"),
    "adapter_placement": ("adapter",),
    "adapter_reduction": ("adapter",),
}


class TuningConfig(Section):
    """Which parameters train: a method from the `tuning` registry and its options. The task head
    always trains, and is saved with the adapter for parameter-efficient methods."""

    method: Literal["full", "freeze", "bitfit", "lora", "ia3", "prompt", "prefix", "adapter"] = Field(
        "full",
        description="full | freeze (the freeze_* options) | bitfit (biases + head) | lora | ia3 | "
        "prompt (soft prompt) | prefix (prefix tuning) | adapter (bottleneck adapters).",
    )
    freeze_embeddings: bool = False
    freeze_layers: int = Field(0, ge=0, description="Freeze the bottom k transformer layers.")
    head_only: bool = Field(False, description="Train only the task head (a linear probe).")
    gradual_unfreeze: int = Field(
        0,
        ge=0,
        description="Gradual unfreezing (ULMFiT): start with the head alone and let one more layer "
        "train every N optimiser steps, top layer first, embeddings last; 0: off.",
    )
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: float = Field(16, gt=0.0, description="LoRA scaling numerator (scale alpha/r).")
    lora_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    use_dora: bool = Field(False, description="LoRA: weight-decomposed low-rank adaptation (DoRA).")
    use_rslora: bool = Field(False, description="LoRA: rank-stabilised scaling alpha/sqrt(r).")
    target_modules: list[str] | None = Field(
        None,
        description="LoRA/IA3: module names to adapt; default: LoRA every linear layer of the backbone, "
        "IA3 peft's choice for the architecture.",
    )
    feedforward_modules: list[str] | None = Field(
        None, description="IA3: which target modules are feed-forward (scaled at their input)."
    )
    num_virtual_tokens: int = Field(20, ge=1, description="prompt/prefix: virtual tokens prepended.")
    adapter_placement: Literal["pfeiffer", "houlsby"] = Field(
        "pfeiffer",
        description="adapter: 'pfeiffer' (after each feed-forward block) or 'houlsby' (after the "
        "attention and the feed-forward block of every layer).",
    )
    adapter_reduction: int = Field(
        16, ge=1, description="adapter: bottleneck size = hidden size / reduction factor."
    )

    @model_validator(mode="after")
    def _options_fit_method(self) -> TuningConfig:
        wrong = [
            f"tuning.{k} applies to method {' or '.join(repr(m) for m in _TUNING_OPTIONS[k])}, "
            f"not '{self.method}'"
            for k in sorted(self.model_fields_set)
            if k in _TUNING_OPTIONS
            and self.method not in _TUNING_OPTIONS[k]
            # a resolved config lists every default: only a changed value is an error
            and getattr(self, k) != type(self).model_fields[k].default
        ]
        if self.head_only and self.gradual_unfreeze:
            wrong.append("tuning.gradual_unfreeze has nothing to unfreeze with tuning.head_only")
        if self.target_modules is not None and not self.target_modules:
            wrong.append("tuning.target_modules must name at least one module (or be left unset)")
        if wrong:
            raise ValueError("; ".join(wrong))
        return self


# learning rate when train.lr is not given, by tuning method: measured on CoNLL-2003 with MiniLM
# (benchmarks/peft_compare.py; README "Parameter-efficient fine-tuning"); a few trainable parameters
# need a far larger step than the whole model
METHOD_LR = {
    "full": 5e-5,
    "freeze": 5e-5,
    "bitfit": 5e-3,
    "lora": 2e-3,
    "ia3": 3e-2,
    "prompt": 3e-2,
    "prefix": 3e-2,
    "adapter": 1e-2,
}
