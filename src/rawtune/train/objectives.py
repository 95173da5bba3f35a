"""What the loop optimises. A training module wraps the model being trained (`.model`, the
save_pretrained-able Hugging Face model) and returns, from `forward(**batch)`, a dict with:

  loss      scalar tensor to backpropagate (mean over the counted units of this micro-batch)
  loss_sum  detached float sum over units (for exact averages over steps and evaluations)
  count     number of units (masked tokens, predicted tokens, examples)
  correct   units predicted right (optional; gives accuracy)

Being an `nn.Module`, it is what Accelerate wraps (DDP/FSDP), so every objective (LM, distillation,
EWC, contrastive) runs in the one loop unchanged.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn


class TrainModule(Protocol):
    model: nn.Module

    def __call__(self, **batch: torch.Tensor) -> dict[str, Any]: ...


class ModelLoss(nn.Module):
    """The model's own loss (`model(**batch).loss`), one unit per example."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, **batch: torch.Tensor) -> dict[str, Any]:
        out = self.model(**batch)
        n = int(next(iter(batch.values())).shape[0])
        return {"loss": out.loss, "loss_sum": float(out.loss.detach()) * n, "count": n}
