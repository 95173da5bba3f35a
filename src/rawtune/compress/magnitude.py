"""Unstructured magnitude pruning for `rawtune compress --prune magnitude:F`.

Zeroes the smallest encoder linear weights (Zhu & Gupta 2017), one-shot or on a cubic schedule during
recovery training (`MagnitudeSchedule`, a training-loop callback). The model keeps its shapes: it gets
sparse, not smaller or faster on dense kernels.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from rawtune.errors import ModelError
from rawtune.modeling.heads import transformer_layers

if TYPE_CHECKING:
    from rawtune.train.loop import StepResult

log = logging.getLogger("rawtune")


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights of the nn.Linear modules inside the transformer layers, by parameter name: not the
    embeddings, the pooler or the task head, whose few weights matter most per parameter."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    inside = {id(m) for m in transformer_layers(base).modules()}
    out = {f"{n}.weight": m.weight for n, m in model.named_modules() if id(m) in inside and _is_linear(m)}
    if not out:
        raise ModelError(f"{type(model).__name__}: no nn.Linear weights in its layers to prune")
    return out


def _is_linear(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) and "lora_" not in type(m).__module__


def _prune_mask(scores: Tensor, k: int) -> Tensor:
    """True at the k lowest scores, ties broken by position so exactly k are chosen (kthvalue is
    O(n), where a full sort of BERT-base's 85M encoder weights is not)."""
    flat = scores.flatten()
    prune = torch.zeros_like(flat, dtype=torch.bool)
    if k <= 0:
        return prune.view_as(scores)
    threshold = flat.kthvalue(min(k, flat.numel())).values
    prune = flat < threshold
    ties = (flat == threshold).nonzero().flatten()[: k - int(prune.sum())]
    prune[ties] = True
    return prune.view_as(scores)


def magnitude_masks(
    model: nn.Module, sparsity: float, scope: str = "global", previous: dict[str, Tensor] | None = None
) -> dict[str, Tensor]:
    """Keep-masks (True = keep) that prune `sparsity` of the prunable weights by |w|, over all of them
    at once (`global`) or within each weight (`layer`). Weights already pruned in `previous` rank
    first, so masks from a rising schedule only ever grow.

    Hand-written rather than `torch.nn.utils.prune`: its L1 ranking is the same, but its API
    reparametrises `weight` into `weight_orig` + `weight_mask` with a forward pre-hook, which renames
    parameters in checkpoints and optimizer state, and it cannot rank earlier-pruned weights first."""
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', not {scope!r}")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), not {sparsity}")
    scores = {}
    for name, w in prunable_weights(model).items():
        s = w.detach().abs().float()
        if previous is not None and name in previous:
            s = s.masked_fill(~previous[name].to(s.device), -1.0)
        scores[name] = s
    if scope == "layer":
        return {n: ~_prune_mask(s, round(sparsity * s.numel())) for n, s in scores.items()}
    flat = torch.cat([s.flatten() for s in scores.values()])
    keep = ~_prune_mask(flat, round(sparsity * flat.numel()))
    parts = keep.split([s.numel() for s in scores.values()])
    return {n: p.view_as(s) for (n, s), p in zip(scores.items(), parts, strict=True)}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, Tensor]) -> None:
    """Zero the masked-out weights in place (parameter names and shapes unchanged)."""
    params = dict(model.named_parameters())
    for name, keep in masks.items():
        if name not in params or params[name].shape != keep.shape:
            raise ModelError(f"pruning mask {name} does not fit the model (pruned structure changed?)")
        params[name].mul_(keep.to(params[name].device, params[name].dtype))


def prune_magnitude(model: nn.Module, sparsity: float, scope: str = "global") -> dict[str, Tensor]:
    """One-shot magnitude pruning: compute the masks for `sparsity` and apply them."""
    masks = magnitude_masks(model, sparsity, scope)
    apply_masks(model, masks)
    return masks


def sparsity_report(model: nn.Module) -> dict[str, Any]:
    """Fraction of exact zeros among the prunable weights: overall and per weight (`layers`)."""
    zeros = total = 0
    layers = {}
    for name, w in prunable_weights(model).items():
        z = int((w == 0).sum())
        zeros, total = zeros + z, total + w.numel()
        layers[name.removesuffix(".weight")] = round(z / w.numel(), 6)
    return {"sparsity": round(zeros / total, 6), "zeros": zeros, "weights": total, "layers": layers}


class MagnitudeSchedule:
    """A training-loop callback for gradual magnitude pruning (Zhu & Gupta 2017): the target sparsity
    rises as s_t = target + (initial - target) * (1 - (t - start) / (end - start))^3, recomputed every
    `every` steps between `start_step` and `end_step` (and at `end_step`), so the cut is steep while
    the network has the most redundancy and gentle near the target. Before `start_step` nothing is
    pruned; after `end_step` the masks stay fixed.

    The masks are re-applied after every optimizer step (the optimizer moves pruned weights off zero,
    and Adam's moments keep pushing them). The sparsity is a pure function of the step and pruned
    weights are exactly zero in a checkpoint, so `on_start` rebuilds the masks of a resumed run from
    its weights: resuming at step k continues with the masks an uninterrupted run had at step k.
    `start_step == end_step` is the one-shot path: the target masks from the first step on."""

    def __init__(
        self,
        model: nn.Module,
        target: float,
        *,
        start_step: int = 0,
        end_step: int | None = None,
        every: int = 1,
        initial: float = 0.0,
        scope: str = "global",
    ):
        if not 0 < target < 1 or not 0 <= initial <= target:
            raise ValueError(f"need 0 <= initial ({initial}) <= target ({target}) < 1 and target > 0")
        if every < 1 or start_step < 0 or (end_step is not None and end_step < start_step):
            raise ValueError(
                f"need 0 <= start_step ({start_step}) <= end_step ({end_step}) and every ({every}) >= 1"
            )
        self.model, self.target, self.initial, self.scope = model, target, initial, scope
        self.start_step, self.end_step, self.every = start_step, end_step, every
        self.masks: dict[str, Tensor] | None = None
        self._ramp = (2 / 3, 10)  # for_training's share of training and number of mask updates

    @classmethod
    def for_training(
        cls,
        model: nn.Module,
        target: float,
        schedule: str = "cubic",
        scope: str = "global",
        *,
        total_steps: int | None = None,
        ramp: float = 2 / 3,
        updates: int = 10,
    ) -> MagnitudeSchedule:
        """`oneshot`: the target masks from step 0, kept through training. `cubic`: ramp from 0 to
        the target over the first `ramp` of training in about `updates` mask updates, leaving the rest
        for recovery at full sparsity. `total_steps` may instead come from `state["total_steps"]`."""
        if schedule == "oneshot":
            return cls(model, target, start_step=0, end_step=0, scope=scope)
        if schedule != "cubic":
            raise ValueError(f"schedule must be 'oneshot' or 'cubic', not {schedule!r}")
        self = cls(model, target, scope=scope)
        self._ramp = (ramp, updates)
        if total_steps is not None:
            self._fit_to(total_steps)
        return self

    def _fit_to(self, total_steps: int) -> None:
        ramp, updates = self._ramp
        self.end_step = max(1, round(ramp * total_steps))
        self.every = max(1, math.ceil(self.end_step / updates))

    def sparsity_at(self, step: int) -> float:
        """The sparsity in force after optimizer step `step` (constant between mask updates)."""
        end = self._end()
        if step < self.start_step:
            return 0.0
        if step >= end:
            return self.target
        t = self.start_step + (step - self.start_step) // self.every * self.every
        frac = (t - self.start_step) / (end - self.start_step)
        return self.target + (self.initial - self.target) * (1 - frac) ** 3

    def _end(self) -> int:
        if self.end_step is None:
            raise ValueError("MagnitudeSchedule: end_step unknown; pass total_steps to for_training")
        return self.end_step

    def _update(self, sparsity: float) -> None:
        if sparsity > 0:
            self.masks = magnitude_masks(self.model, sparsity, self.scope, previous=self.masks)
        if self.masks is not None:
            apply_masks(self.model, self.masks)

    def on_start(self, state: dict[str, Any]) -> None:
        if self.end_step is None and "total_steps" in state:
            self._fit_to(int(state["total_steps"]))
        self.masks = None  # rebuilt from the weights: resumed weights are zero exactly where pruned
        self._update(self.sparsity_at(int(state["step"])))

    def on_step(self, result: StepResult, state: dict[str, Any]) -> None:
        step, end = result.step, self._end()
        due = self.start_step <= step <= end and ((step - self.start_step) % self.every == 0 or step == end)
        self._update(self.sparsity_at(step) if due else 0.0)

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        pass

    def on_end(self, state: dict[str, Any]) -> None:
        """Make sure the model ends at the target: training that stopped before the schedule's end
        (logged), or best weights restored from before it, are pruned to it here."""
        if self.sparsity_at(int(state["step"])) < self.target:
            log.warning(
                "training ended at step %d, before the pruning schedule's end (%d); pruning to %g now",
                state["step"],
                self._end(),
                self.target,
            )
        self._update(self.target)
