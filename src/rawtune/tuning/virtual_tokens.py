"""Prompt tuning's model for token classification: the logits of peft's virtual tokens dropped."""

from __future__ import annotations

from typing import Any

from torch import nn


class StripVirtualTokens(nn.Module):
    """Token classification under prompt tuning: peft prepends the virtual tokens to the sequence and
    returns their logits too; dropping them aligns the logits with the input tokens again."""

    def __init__(self, peft_model: nn.Module, n: int):
        super().__init__()
        self.peft_model, self.n = peft_model, n

    def forward(self, **inputs: Any) -> Any:
        out = self.peft_model(**inputs)
        out.logits = out.logits[:, self.n :]
        return out


def unwrap(model: nn.Module) -> nn.Module:
    """The PeftModel inside a training model (itself, unless wrapped)."""
    return model.peft_model if isinstance(model, StripVirtualTokens) else model
