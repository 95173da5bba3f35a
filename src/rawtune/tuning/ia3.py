"""`ia3` (peft): learned vectors that rescale keys, values and feed-forward activations; the head
trains in full and is saved with the adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from rawtune.errors import ConfigError, ConfigIssue
from rawtune.tuning.base import (
    TargetOptions,
    check_targets,
    default_targets,
    head_names,
    register_method,
    task_type,
)

if TYPE_CHECKING:
    from torch import nn


class IA3Options(TargetOptions):
    method: Literal["ia3"] = "ia3"
    lr: ClassVar[float] = 3e-2
    feedforward_modules: list[str] | None = Field(
        None, description="IA3: which target modules are feed-forward (scaled at their input)."
    )


@register_method("ia3")
class IA3:
    options = IA3Options
    adapter = "peft"
    mergeable = True

    @staticmethod
    def apply(model: nn.Module, cfg: IA3Options, *, max_length: int | None = None) -> nn.Module:
        from peft import IA3Config, get_peft_model
        from peft.utils.constants import (
            TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FF,
        )
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as TARGETS

        tt = task_type(model, "ia3")
        targets = cfg.target_modules or default_targets(model, TARGETS, "ia3")
        check_targets(model, targets)
        if cfg.feedforward_modules is not None:
            ff = cfg.feedforward_modules
        elif cfg.target_modules is None:
            ff = default_targets(model, FF, "ia3")
        else:  # custom targets: those of the default feed-forward modules it names
            ff = [t for t in targets if t in FF.get(model.config.model_type, [])]
        outside = [m for m in ff if m not in targets]
        if outside:
            raise ConfigError(
                [ConfigIssue("tuning.feedforward_modules", f"{outside} are not in tuning.target_modules")]
            )
        config = IA3Config(
            task_type=tt, target_modules=targets, feedforward_modules=ff, modules_to_save=head_names(model)
        )
        return get_peft_model(model, config)
