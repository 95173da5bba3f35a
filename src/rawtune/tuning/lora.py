"""`lora` (peft): low-rank updates of the target layers, optionally DoRA or rank-stabilised; the head
trains in full (peft modules_to_save) and is saved with the adapter.

Default targets: every linear layer of the backbone (peft's "all-linear": attention and feed-forward,
the head excluded), not peft's per-architecture default of query and value alone. Measured on
CoNLL-2003 with MiniLM, r=8, lr 2e-3, 2 epochs (benchmarks/peft_compare.py): query+value 0.770 dev F1
with 0.34 % trainable, all linear layers 0.826 with 1.46 %."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from rawtune.tuning.base import TargetOptions, check_targets, head_names, register_method, task_type

if TYPE_CHECKING:
    from torch import nn


class LoraOptions(TargetOptions):
    method: Literal["lora"] = "lora"
    lr: ClassVar[float] = 2e-3
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: float = Field(16, gt=0.0, description="LoRA scaling numerator (scale alpha/r).")
    lora_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    use_dora: bool = Field(False, description="LoRA: weight-decomposed low-rank adaptation (DoRA).")
    use_rslora: bool = Field(False, description="LoRA: rank-stabilised scaling alpha/sqrt(r).")


@register_method("lora")
class Lora:
    options = LoraOptions
    adapter = "peft"
    mergeable = True
    trains_tokens = True  # rows of the input embedding given as `tokens` train too (peft trainable tokens)

    @staticmethod
    def apply(
        model: nn.Module, cfg: LoraOptions, *, max_length: int | None = None, tokens: list[int] | None = None
    ) -> nn.Module:
        from peft import LoraConfig, get_peft_model

        tt = task_type(model, "lora")
        targets: list[str] | str = "all-linear"
        if cfg.target_modules:
            targets = cfg.target_modules
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
            # tokens a task added (relations' entity markers) start from a guess: they must learn
            trainable_token_indices=list(tokens) if tokens else None,
        )
        return get_peft_model(model, config)
