"""`full`: every parameter trains (the freeze_* options still apply, as they always have)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, model_validator

from rawtune.config.options import TuningOptions
from rawtune.tuning.base import register_method

if TYPE_CHECKING:
    from torch import nn


class FullOptions(TuningOptions):
    """full and freeze: which parts of the model stay frozen, and gradual unfreezing."""

    method: Literal["full"] = "full"
    lr: ClassVar[float] = 5e-5
    freeze_embeddings: bool = False
    freeze_layers: int = Field(0, ge=0, description="Freeze the bottom k transformer layers.")
    head_only: bool = Field(False, description="Train only the task head (a linear probe).")
    gradual_unfreeze: int = Field(
        0,
        ge=0,
        description="Gradual unfreezing (ULMFiT): start with the head alone and let one more layer "
        "train every N optimiser steps, top layer first, embeddings last; 0: off.",
    )

    @model_validator(mode="after")
    def _unfreeze_something(self) -> FullOptions:
        if self.head_only and self.gradual_unfreeze:
            raise ValueError("tuning.gradual_unfreeze has nothing to unfreeze with tuning.head_only")
        return self

    def unfreeze_every(self) -> int:
        return self.gradual_unfreeze


@register_method("full")
class Full:
    options = FullOptions
    adapter = None
    mergeable = False

    @staticmethod
    def apply(model: nn.Module, cfg: FullOptions, *, max_length: int | None = None) -> nn.Module:
        from rawtune.modeling.heads import apply_freezing

        apply_freezing(model, cfg)
        return model
