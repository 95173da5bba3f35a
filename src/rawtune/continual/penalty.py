"""Regularisation toward the previous model's weights, as an objective of the one training loop:
`Regularized` wraps the task's loss module and adds `strength * penalty`.

- L2-SP (Li et al. 2018): sum over parameters of (theta - theta_prev)^2.
- EWC (Kirkpatrick et al. 2017): the same squares weighted by a diagonal Fisher estimate on earlier
  data, sum F * (theta - theta_prev)^2, so weights the old task relied on move least.

Written by hand: no maintained library offers these as a loss over a transformers model (avalanche
ships its own training loop). A parameter whose shape grew (the head, after new labels) is
penalised on its old rows only; the new rows are free."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from rawtune.train.devices import model_device, to_device

log = logging.getLogger("rawtune")


class Penalty(nn.Module):
    """strength/2 * sum_i w_i (theta_i - anchor_i)^2 over the model's trainable parameters (w = 1
    for L2-SP, the Fisher diagonal for EWC). Anchors and weights are buffers, never trained."""

    def __init__(self, model: nn.Module, weights: dict[str, torch.Tensor] | None, strength: float):
        super().__init__()
        self.strength = strength
        self.names: list[str] = []
        for i, (name, p) in enumerate(model.named_parameters()):
            if not p.requires_grad:
                continue
            self.names.append(name)
            self.register_buffer(f"anchor_{i}", p.detach().clone(), persistent=False)
            w = weights.get(name) if weights is not None else None
            self.register_buffer(f"weight_{i}", None if w is None else w.detach().clone(), persistent=False)
        self._index = {name: i for i, (name, _) in enumerate(model.named_parameters())}

    def forward(self, model: nn.Module) -> torch.Tensor:
        total = None
        params = dict(model.named_parameters())
        for name in self.names:
            i = self._index[name]
            anchor, weight = getattr(self, f"anchor_{i}"), getattr(self, f"weight_{i}")
            p = params[name]
            if p.shape != anchor.shape:  # a grown head: only the old rows are anchored
                p = p[: anchor.shape[0]]
            sq = (p.float() - anchor.float()) ** 2
            term = (sq * weight.float()).sum() if weight is not None else sq.sum()
            total = term if total is None else total + term
        if total is None:
            return torch.zeros((), device=model_device(model))
        return 0.5 * self.strength * total


class Regularized(nn.Module):
    """The task's loss module plus the penalty; `.model` is the task model (what the loop saves)."""

    def __init__(self, inner: nn.Module, penalty: Penalty):
        super().__init__()
        self.inner = inner
        self.model = inner.model
        self.penalty = penalty

    def forward(self, **batch: torch.Tensor) -> dict[str, Any]:
        out = dict(self.inner(**batch))
        out["loss"] = out["loss"] + self.penalty(self.model).to(out["loss"].dtype)
        return out


def fisher_diagonal(module: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The empirical Fisher diagonal: the mean over batches of the squared gradient of the task
    loss, at the current weights, for every trainable parameter of `module.model`, normalised so
    its mean is 1 (then `strength` means the same for every model size)."""
    model = module.model
    was_training = model.training
    model.eval()  # dropout off: the gradient of the model as it predicts
    sums = {
        n: torch.zeros_like(p, dtype=torch.float32) for n, p in model.named_parameters() if p.requires_grad
    }
    count, device = 0, model_device(model)
    for batch in batches:
        model.zero_grad(set_to_none=True)
        module(**to_device(batch, device))["loss"].backward()
        for n, p in model.named_parameters():
            if n in sums and p.grad is not None:
                sums[n] += p.grad.detach().float() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if count == 0:
        raise ValueError("the Fisher estimate needs at least one batch of earlier data")
    # F = sums / count; F / mean(F) = sums / mean(sums): the batch count cancels
    mean = torch.cat([s.flatten() for s in sums.values()]).mean().clamp_min(1e-20)
    return {n: s / mean for n, s in sums.items()}
