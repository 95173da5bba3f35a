"""Gradual unfreezing (ULMFiT, Howard & Ruder 2018): training starts with the task head (and any
pooler above the encoder) alone, and every `tuning.gradual_unfreeze` optimiser steps one more layer
group joins, from the top layer down to the embeddings. Parameters the freeze_* options froze stay
frozen.

Every parameter that will ever train is in the optimiser from the start; a frozen one has no
gradient, so AdamW/SGD skip it (no moment updates, no weight decay) until it thaws and starts its own
step count. The schedule is a function of the step, so `--resume` sets exactly the same state."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from rawtune.errors import ModelError
from rawtune.modeling.heads import transformer_layers

log = logging.getLogger("rawtune")


class GradualUnfreezing:
    """A training callback: before optimiser step s (1-based), groups[: 1 + (s - 1) // every] train."""

    def __init__(self, model: nn.Module, every: int):
        prefix = getattr(model, "base_model_prefix", "")
        base = getattr(model, prefix, None) if prefix else None
        if base is None:
            raise ModelError(f"gradual unfreezing: cannot find the backbone of {type(model).__name__}")
        layers = list(transformer_layers(base))
        in_layers = {id(p) for layer in layers for p in layer.parameters()}
        emb = getattr(base, "embeddings", None) or base.get_input_embeddings()
        in_emb = {id(p) for p in emb.parameters()}
        allowed = [p for p in model.parameters() if p.requires_grad]  # what freeze_* left trainable
        top = [p for p in allowed if id(p) not in in_layers and id(p) not in in_emb]
        groups = [top]
        for layer in reversed(layers):
            ids = {id(p) for p in layer.parameters()}
            groups.append([p for p in allowed if id(p) in ids])
        groups.append([p for p in allowed if id(p) in in_emb])
        self.groups = [g for g in groups if g] or [allowed]
        self.every = every
        self.stage = -1

    def stages(self) -> int:
        return len(self.groups)

    def set_step(self, step: int) -> None:
        """Set requires_grad for optimiser step `step` (1-based)."""
        stage = min(len(self.groups) - 1, max(0, step - 1) // self.every)
        if stage == self.stage:
            return
        for i, group in enumerate(self.groups):
            for p in group:
                p.requires_grad_(i <= stage)
        if self.stage >= 0 or stage > 0:
            log.info(
                "gradual unfreezing: step %d, %d of %d layer groups train", step, stage + 1, len(self.groups)
            )
        self.stage = stage

    # --- callback -------------------------------------------------------------------------------
    def on_start(self, state: dict[str, Any]) -> None:
        self.set_step(state["step"] + 1)

    def on_step(self, result: Any, state: dict[str, Any]) -> None:
        self.set_step(result.step + 1)

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        pass

    def on_end(self, state: dict[str, Any]) -> None:
        for group in self.groups:  # the saved model is an ordinary one
            for p in group:
                p.requires_grad_(True)
