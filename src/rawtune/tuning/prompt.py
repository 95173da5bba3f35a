"""`prompt` (soft prompt tuning, peft). The head trains in full and is saved with the adapter; virtual
tokens do not merge, so a run keeps the adapter and names its base model."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from rawtune.errors import ConfigError, ConfigIssue
from rawtune.tuning.base import VirtualTokenOptions, head_names, register_method, task_type

if TYPE_CHECKING:
    from torch import nn


class PromptOptions(VirtualTokenOptions):
    method: Literal["prompt"] = "prompt"
    lr: ClassVar[float] = 3e-2


def _check_positions(model: nn.Module, cfg: PromptOptions, max_length: int | None) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and max_length and max_length + cfg.num_virtual_tokens > limit:
        raise ConfigError(
            [
                ConfigIssue(
                    "tuning.num_virtual_tokens",
                    f"{cfg.num_virtual_tokens} virtual tokens + data.max_length {max_length} exceed the "
                    f"model's {limit} positions; lower one of them",
                )
            ]
        )


@register_method("prompt")
class Prompt:
    options = PromptOptions
    adapter = "peft"
    mergeable = False

    @staticmethod
    def apply(model: nn.Module, cfg: PromptOptions, *, max_length: int | None = None) -> nn.Module:
        from peft import PromptTuningConfig, get_peft_model

        from rawtune.tuning.virtual_tokens import StripVirtualTokens

        tt = task_type(model, "prompt")
        if tt == "QUESTION_ANS":  # the virtual tokens would shift every start/end position
            raise ConfigError(
                [ConfigIssue("tuning.method", "prompt tuning does not support qa; use prefix, lora or ia3")]
            )
        _check_positions(model, cfg, max_length)
        config = PromptTuningConfig(
            task_type=tt, num_virtual_tokens=cfg.num_virtual_tokens, modules_to_save=head_names(model)
        )
        peft_model = get_peft_model(model, config)
        return StripVirtualTokens(peft_model, cfg.num_virtual_tokens) if tt == "TOKEN_CLS" else peft_model
