"""`lora` (peft): low-rank updates of the target layers, optionally DoRA or rank-stabilised; the head
trains in full (peft modules_to_save) and is saved with the adapter."""

from __future__ import annotations

from torch import nn

from rawtune.config.schema import TuningConfig
from rawtune.tuning.base import METHODS, check_targets, default_targets, head_names, task_type


@METHODS.register("lora")
class Lora:
    adapter = "peft"
    mergeable = True

    @staticmethod
    def apply(model: nn.Module, cfg: TuningConfig, *, max_length: int | None = None) -> nn.Module:
        from peft import LoraConfig, get_peft_model
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

        tt = task_type(model, "lora")
        targets = cfg.target_modules or default_targets(model, DEFAULTS, "lora")
        check_targets(model, targets)
        config = LoraConfig(
            task_type=tt,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=targets,
            use_dora=cfg.use_dora,
            use_rslora=cfg.use_rslora,
            modules_to_save=head_names(model),
        )
        return get_peft_model(model, config)
