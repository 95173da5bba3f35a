"""Continued pretraining in two phases when the checkpoint has no trained LM head (the packaged
all-MiniLM-L6-v2, any sentence-transformers encoder or bare AutoModel save): first the head alone,
the encoder frozen, until validation loss stops improving (or a step cap); then the whole model.
Both are phases of one run (`RunSpec.warmup`): one loop, one metrics log, one resume."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rawtune.config.schema import PretrainConfig, TrainConfig
from rawtune.train.optim import total_steps

log = logging.getLogger("rawtune")
HEAD, FULL = "head", "full"  # the phases' names, in metrics.jsonl, checkpoints and the progress bar


def wants_head_warmup(cfg: PretrainConfig, untrained: list[str]) -> bool:
    """`head_warmup.enabled`: auto warms up a head the checkpoint lacked; true any head; never from
    scratch (the encoder is as new as the head)."""
    enabled = cfg.head_warmup.enabled
    if enabled is False or cfg.model.init == "scratch":
        return False
    return enabled is True or bool(untrained)


def freeze_base(model: Any, frozen: bool) -> int:
    """Freeze (or thaw) every parameter of the base model, the head's alone left trainable; returns
    the number of trainable parameters. A head tied to the input embeddings (BERT's decoder, GPT-2's
    output layer) stays frozen with them: only the head's own layers and biases train."""
    prefix = f"{model.base_model_prefix}."
    trainable = 0
    for name, p in model.named_parameters():
        p.requires_grad_(not (frozen and name.startswith(prefix)))
        trainable += p.numel() if p.requires_grad else 0
    return trainable


def head_config(cfg: PretrainConfig) -> TrainConfig:
    """The head phase's loop settings: the run's, with the head's constant rate, its evaluation
    cadence and patience, a step cap, and its best evaluation kept."""
    hw = cfg.head_warmup
    return cfg.train.model_copy(
        update={
            "max_steps": hw.max_steps,
            "lr": hw.lr,
            "scheduler": "constant",
            "warmup_steps": 0,
            "eval_steps": hw.eval_steps,
            "early_stopping_patience": hw.patience,
            "restore_best": True,
            "head_lr": None,
            "layer_decay": None,
        }
    )


def sized(cfg: TrainConfig, micro_per_epoch: int | None, world: int, cap: int | None) -> TrainConfig:
    """The loop settings with the number of steps fixed: `max_steps` as given, else `epochs` passes
    over the corpus but at most `cap` steps (a corpus streamed from disk has no size: max_steps)."""
    if cfg.max_steps is not None or micro_per_epoch is None or cap is None:
        return cfg
    steps = total_steps(cfg, micro_per_epoch, world)
    if steps > cap:
        log.info("%g epochs would take %d steps; train.steps_cap stops at %d", cfg.epochs, steps, cap)
    return cfg.model_copy(update={"max_steps": min(steps, cap)})


def entering(model: Any, frozen: bool, cfg: PretrainConfig) -> Callable[[], None]:
    """What readies the model for a phase (run again when a --resume starts in it)."""

    def enter() -> None:
        trainable = freeze_base(model, frozen)
        if frozen:
            log.info(
                "phase %s: the LM head alone trains (%d parameters), the encoder frozen; at most %d steps, "
                "until validation loss stops improving for %d evaluations",
                HEAD,
                trainable,
                cfg.head_warmup.max_steps,
                cfg.head_warmup.patience,
            )
        else:
            log.info("phase %s: the whole model trains (%d parameters)", FULL, trainable)

    return enter
