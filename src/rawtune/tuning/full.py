"""`full`: every parameter trains (the freeze_* options still apply, as they always have)."""

from __future__ import annotations

from torch import nn

from rawtune.config.schema import TuningConfig
from rawtune.modeling.heads import apply_freezing
from rawtune.tuning.base import METHODS


@METHODS.register("full")
class Full:
    adapter = None
    mergeable = False

    @staticmethod
    def apply(model: nn.Module, cfg: TuningConfig, *, max_length: int | None = None) -> nn.Module:
        apply_freezing(model, cfg)
        return model
