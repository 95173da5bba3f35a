"""`prefix`: prefix tuning (Li & Liang 2021; for encoders as in P-tuning v2, Liu et al. 2022). Every
self-attention layer attends to `num_virtual_tokens` learned keys and values in front of the
sequence's own; the sequence, its positions and the outputs stay as they were, so token
classification needs no realignment. Only the prefixes and the head train.

Written by hand because peft 0.21's prefix tuning passes `past_key_values`, which transformers 5's
encoders no longer take. The prefix goes in through the attention's own key/value cache hook: a
forward pre-hook hands each self-attention a cache object whose `update` puts the prefix in front of
the keys and values, and widens the attention mask to let every token see it. The prefixes start as
the keys and values the model itself computes for random vocabulary tokens (Li & Liang's
initialisation from real activations), so training starts close to the base model's behaviour."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rawtune.errors import ConfigError, ConfigIssue
from rawtune.tuning.base import VirtualTokenOptions, register_method, train_only

if TYPE_CHECKING:
    import torch
    from torch import nn


class PrefixOptions(VirtualTokenOptions):
    method: Literal["prefix"] = "prefix"
    lr: ClassVar[float] = 3e-2


class _Prefix:
    """The cache a self-attention layer sees: its keys and values come back with the prefix in front."""

    def __init__(self, key: torch.Tensor, value: torch.Tensor):
        self.key, self.value = key, value

    def update(self, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any):
        import torch

        b = key.shape[0]
        pk = self.key.to(key.dtype).unsqueeze(0).expand(b, -1, -1, -1)
        pv = self.value.to(value.dtype).unsqueeze(0).expand(b, -1, -1, -1)
        return torch.cat([pk, key], dim=2), torch.cat([pv, value], dim=2)


class _Capture:
    """The cache of the initialising pass: records the layer's keys and values, changes nothing."""

    def __init__(self, into: list):
        self.into = into

    def update(self, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any):
        self.into.append((key[0].detach().clone(), value[0].detach().clone()))
        return key, value


def _widen(mask: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """The prepared attention mask (None: attend everywhere) with n visible positions in front."""
    import torch

    if mask is None:
        return None
    see = torch.ones if mask.dtype == torch.bool else torch.zeros  # bool: True attends; float: additive 0
    return torch.cat([see((*mask.shape[:-1], n), dtype=mask.dtype, device=mask.device), mask], dim=-1)


def _with_prefix(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    kwargs["cache"] = _Prefix(module.prefix_key, module.prefix_value)
    kwargs["attention_mask"] = _widen(kwargs.get("attention_mask"), module.prefix_key.shape[1])
    return args, kwargs


def attention_layers(model: nn.Module) -> list[nn.Module]:
    """Self-attention modules that take a key/value cache: BERT-family attention in transformers 5."""
    found = []
    for _, m in model.named_modules():
        if not all(hasattr(m, a) for a in ("key", "value", "layer_idx")):
            continue
        if "cache" in inspect.signature(m.forward).parameters:
            found.append(m)
    return found


def _refuse(model: nn.Module, why: str) -> ConfigError:
    return ConfigError(
        [
            ConfigIssue(
                "tuning.method",
                f"'prefix' cannot run on {type(model).__name__}: {why}. Use 'prompt', 'lora' or 'adapter'",
            )
        ]
    )


@register_method("prefix")
class Prefix:
    options = PrefixOptions
    adapter = "rawtune"
    mergeable = False

    @staticmethod
    def apply(model: nn.Module, cfg: PrefixOptions, *, max_length: int | None = None) -> nn.Module:
        import torch

        layers = attention_layers(model)
        if not layers:
            raise _refuse(model, "none of its attention layers takes a key/value cache")
        n = cfg.num_virtual_tokens
        captured: list = []
        hooks = [
            m.register_forward_pre_hook(
                lambda mod, a, kw: (a, {**kw, "cache": _Capture(captured)}), with_kwargs=True
            )
            for m in layers
        ]
        vocab = model.config.vocab_size
        low = 1000 if vocab > 2000 else 0  # BERT vocabularies keep special and unused tokens below 1000
        ids = torch.randint(low, vocab, (1, n), device=next(model.parameters()).device)
        was_training = model.training
        try:
            with torch.no_grad():
                model.eval()(input_ids=ids)
        finally:
            model.train(was_training)
            for h in hooks:
                h.remove()
        if len(captured) != len(layers):
            raise _refuse(model, "its attention does not pass keys and values through the cache")
        train_only(model)
        for m, (key, value) in zip(layers, captured):
            m.prefix_key = torch.nn.Parameter(key)  # (heads, n, head size)
            m.prefix_value = torch.nn.Parameter(value)
            m.register_forward_pre_hook(_with_prefix, with_kwargs=True)
        return model
