"""Models whose layers have fewer attention heads or FFN neurons than their config says.

A BERT-family config has one `num_attention_heads` and one `intermediate_size` for every layer, so it
cannot describe a model pruned per layer. The pruned structure is recorded in the config instead
(`config.rawtune_pruning`: the kept head ids and the FFN width of each layer) and this module turns a
model freshly built from the config into that shape, before its weights are loaded.

This file is the single source for two users: rawtune imports it (`pruned_class`: to build a model
from a pruned base, to load a pruned run, to prune), and `modeling.pruned.save_pruned` copies it
verbatim into the saved model directory as `modeling_rawtune_pruned.py`, with one line per auto class
appended, so `AutoModelFor*.from_pretrained(dir, trust_remote_code=True)` works with plain
transformers. Hence it imports only torch and transformers.

Head slicing needs no change to the attention code: transformers 5's BERT-family self-attention
reshapes its projections with `-1` heads of `attention_head_size` each, so a layer with fewer heads
just computes fewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import transformers
from torch import nn

STRUCTURE_KEY = "rawtune_pruning"
CLASS_PREFIX = "RawtunePruned"


def slice_linear(linear: nn.Linear, dim: int, index: torch.Tensor) -> None:
    """Keep the entries `index` of `linear` along `dim` (0: output rows and bias, 1: input columns),
    in place. New Parameters replace the old ones, so do this before an optimizer is built."""
    index = index.to(linear.weight.device)
    weight = linear.weight.detach().index_select(dim, index).clone()
    grad = linear.weight.requires_grad
    linear.weight = nn.Parameter(weight, requires_grad=grad)
    if dim == 0:
        if linear.bias is not None:
            bias = linear.bias.detach().index_select(0, index).clone()
            linear.bias = nn.Parameter(bias, requires_grad=linear.bias.requires_grad)
        linear.out_features = len(index)
    else:
        linear.in_features = len(index)


def keep_heads(attention: nn.Module, heads: Sequence[int]) -> None:
    """Keep the attention heads at positions `heads` (of those the layer has now): the query, key and
    value rows of those heads and the matching input columns of the output projection."""
    sa = attention.self
    size = sa.attention_head_size
    index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in heads])
    for linear in (sa.query, sa.key, sa.value):
        slice_linear(linear, 0, index)
    slice_linear(attention.output.dense, 1, index)
    sa.num_attention_heads = len(heads)  # informational: the forward pass infers the count
    sa.all_head_size = len(heads) * size


def keep_neurons(layer: nn.Module, index: torch.Tensor) -> None:
    """Keep the intermediate (FFN) neurons `index` of a layer: rows of the up projection, columns of
    the down projection."""
    slice_linear(layer.intermediate.dense, 0, index)
    slice_linear(layer.output.dense, 1, index)


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    return base.encoder.layer


def shrink(model: nn.Module, structure: dict[str, Any]) -> None:
    """Give a model built from its config the recorded per-layer head and FFN counts. Keeps the first
    slots: the weights loaded afterwards were saved already sliced, so only the shapes matter here
    (this runs on the meta device inside `from_pretrained`)."""
    layers = encoder_layers(model)
    heads, widths = structure["heads"], structure["intermediate"]
    if len(heads) != len(layers) or len(widths) != len(layers):
        raise ValueError(
            f"{STRUCTURE_KEY} describes {len(heads)} layers, the config {len(layers)} (num_hidden_layers)"
        )
    for layer, kept, width in zip(layers, heads, widths, strict=True):
        if len(kept) != layer.attention.self.query.out_features // layer.attention.self.attention_head_size:
            keep_heads(layer.attention, range(len(kept)))
        if width != layer.intermediate.dense.out_features:
            keep_neurons(layer, torch.arange(width))


_CLASSES: dict[str, type] = {}


def pruned_class(base_name: str) -> type:
    """A subclass of `transformers.<base_name>` (e.g. BertForTokenClassification) that shrinks itself
    to `config.rawtune_pruning` at the end of `__init__`: in `post_init`, so transformers' bookkeeping
    (tied weights, keys to ignore, which weights were loaded and which to initialise) sees the final
    shapes."""
    base_name = base_name.removeprefix(CLASS_PREFIX)
    if base_name not in _CLASSES:

        class Pruned(getattr(transformers, base_name)):
            rawtune_base_class = base_name

            def post_init(self) -> None:
                structure = getattr(self.config, STRUCTURE_KEY, None)
                if structure:
                    shrink(self, structure)
                super().post_init()

        Pruned.__name__ = Pruned.__qualname__ = CLASS_PREFIX + base_name
        Pruned.__doc__ = f"{base_name} with per-layer pruned attention heads and FFN neurons."
        _CLASSES[base_name] = Pruned
    return _CLASSES[base_name]
