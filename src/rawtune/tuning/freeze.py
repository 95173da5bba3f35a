"""`freeze`: freeze the embeddings, the bottom k layers, or all but the head (`head_only`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rawtune.errors import ConfigError, ConfigIssue
from rawtune.tuning.base import register_method
from rawtune.tuning.full import FullOptions

if TYPE_CHECKING:
    from torch import nn


class FreezeOptions(FullOptions):
    """full's options, of which one that freezes something must be set."""

    method: Literal["freeze"] = "freeze"  # type: ignore[assignment]


@register_method("freeze")
class Freeze:
    options = FreezeOptions
    adapter = None
    mergeable = False

    @staticmethod
    def apply(model: nn.Module, cfg: FreezeOptions, *, max_length: int | None = None) -> nn.Module:
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
        from rawtune.modeling.heads import apply_freezing

        apply_freezing(model, cfg)
        return model
