"""`freeze`: freeze the embeddings, the bottom k layers, or all but the head (`head_only`)."""

from __future__ import annotations

from torch import nn

from rawtune.config.schema import TuningConfig
from rawtune.errors import ConfigError, ConfigIssue
from rawtune.modeling.heads import apply_freezing
from rawtune.tuning.base import METHODS


@METHODS.register("freeze")
class Freeze:
    adapter = None
    mergeable = False

    @staticmethod
    def apply(model: nn.Module, cfg: TuningConfig, *, max_length: int | None = None) -> nn.Module:
        if not (cfg.head_only or cfg.freeze_embeddings or cfg.freeze_layers or cfg.gradual_unfreeze):
            raise ConfigError(
                [
                    ConfigIssue(
                        "tuning.method",
                        "'freeze' needs tuning.head_only, tuning.freeze_embeddings, tuning.freeze_layers "
                        "or tuning.gradual_unfreeze",
                    )
                ]
            )
        apply_freezing(model, cfg)
        return model
