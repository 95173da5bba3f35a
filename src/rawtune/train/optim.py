"""Optimizers with weight-decay parameter groups, and LR schedules (from transformers)."""

from __future__ import annotations

import math

import torch
from torch import nn

from rawtune.config.schema import TrainConfig

_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "layernorm.weight", "ln_", "norm.weight")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Biases and normalisation weights get no weight decay (the BERT recipe). Tied parameters once."""
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or any(k in name for k in _NO_DECAY) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    # foreach is deterministic and the fastest CPU path measured; fused exists for CUDA/CPU in new torch.
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps, foreach=True)


def total_steps(cfg: TrainConfig, micro_per_epoch: int | None, world: int = 1) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    if micro_per_epoch is None:
        raise ValueError(
            "train.max_steps is required when the number of batches per epoch is unknown (streaming)"
        )
    return max(1, math.ceil(cfg.epochs * micro_per_epoch / (cfg.grad_accum * world)))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps: int):
    from transformers import get_scheduler

    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else math.ceil(cfg.warmup_ratio * steps)
    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[cfg.scheduler]
    return get_scheduler(name, optimizer=optimizer, num_warmup_steps=warmup, num_training_steps=steps)
