"""Structured pruning for `rawtune compress --prune heads:F,ffn:F,layers:N`.

Physically removes attention heads and FFN neurons (ranked by Michel et al. 2019's gradient of a gate
on each) and whole layers (ranked by the loss increase when skipped), so the model is smaller and
faster. A BERT-family config cannot state per-layer head or neuron counts, so the structure goes into
`config.rawtune_pruning`; `modeling.pruned.save_pruned` writes such a model with the code that
rebuilds it (`modeling/pruned_modeling.py`), and `artifacts` loads it.

Importance is computed with `torch.autograd.grad` on the gates only: it leaves the parameters'
`.grad` untouched (training's backward stays in train/loop.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from rawtune.errors import ModelError
from rawtune.modeling import pruned_modeling as pm
from rawtune.modeling.heads import transformer_layers as _layers

Batch = dict[str, Tensor]
LossFn = Callable[[nn.Module, Batch], Tensor]
FAMILY = "BERT-family encoders (BERT, RoBERTa, XLM-R, ELECTRA, MiniLM)"


# --- structured pruning: gates and importance ---------------------------------------------------------
def _has(module: nn.Module, path: str) -> bool:
    for part in path.split("."):
        module = getattr(module, part, None)
    return module is not None


_BERT_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.self.attention_head_size",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The layers of a BERT-family encoder; anything else is refused with its name."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    try:
        layers = _layers(base)
    except ModelError:
        layers = None
    if not layers or not all(_has(layer, p) for layer in layers for p in _BERT_PARTS):
        model_type = getattr(getattr(model, "config", None), "model_type", "?")
        raise ModelError(
            f"structured pruning (heads, ffn, layers) supports {FAMILY}; {type(model).__name__} "
            f"(model_type '{model_type}') does not have their layer layout. Magnitude pruning works on it."
        )
    return layers


def _head_counts(layers: nn.ModuleList) -> list[int]:
    return [la.attention.self.query.out_features // la.attention.self.attention_head_size for la in layers]


def _widths(layers: nn.ModuleList) -> list[int]:
    return [la.intermediate.dense.out_features for la in layers]


@contextmanager
def gates(
    model: nn.Module, heads: Sequence[Tensor] | None = None, ffn: Sequence[Tensor] | None = None
) -> Iterator[None]:
    """Within the block, each layer's attention context is multiplied per head by `heads[l]` (one value
    per head) and its FFN activation by `ffn[l]` (one per neuron). A gate of 0 is exactly what removing
    that head or neuron does; the gradient of the loss w.r.t. a gate of 1 is its importance. Forward
    hooks, because transformers 5 dropped `head_mask`."""
    layers = encoder_layers(model)
    handles = []

    def scale(gate: Tensor, repeat: int) -> Callable[..., Any]:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            x = output[0] if isinstance(output, tuple) else output
            x = x * gate.repeat_interleave(repeat).to(x.dtype)
            return (x, *output[1:]) if isinstance(output, tuple) else x

        return hook

    try:
        for i, layer in enumerate(layers):
            if heads is not None:
                sa = layer.attention.self
                handles.append(sa.register_forward_hook(scale(heads[i], sa.attention_head_size)))
            if ffn is not None:
                handles.append(layer.intermediate.register_forward_hook(scale(ffn[i], 1)))
        yield
    finally:
        for h in handles:
            h.remove()


def _to(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was = model.training
    model.eval()  # no dropout: importance of the model as it will run
    try:
        yield
    finally:
        model.train(was)


def _gate_importance(model: nn.Module, batches: Iterable[Batch], loss_fn: LossFn, kind: str) -> Tensor:
    layers = encoder_layers(model)
    device = next(model.parameters()).device
    sizes = _head_counts(layers) if kind == "heads" else _widths(layers)
    g = [torch.ones(n, device=device, requires_grad=True) for n in sizes]
    total = [torch.zeros(n, device=device) for n in sizes]
    seen = 0
    with _eval_mode(model), gates(model, **{kind: g}):
        for batch in batches:
            grads = torch.autograd.grad(loss_fn(model, _to(batch, device)), g)
            for t, grad in zip(total, grads, strict=True):
                t += grad.abs()  # Michel et al.: E_x |dL/d gate|
            seen += 1
    if not seen:
        raise ModelError("pruning importance needs at least one training batch")
    out = torch.full((len(sizes), max(sizes)), math.nan)
    for i, t in enumerate(total):
        out[i, : sizes[i]] = (t / t.norm().clamp_min(1e-12)).cpu()  # per-layer L2 normalisation
    return out


def head_importance(model: nn.Module, batches: Iterable[Batch], loss_fn: LossFn) -> Tensor:
    """[layers, heads]: mean |dL/d gate| of each head's gate over `batches`, divided by the layer's L2
    norm (Michel et al. 2019), so heads compete across layers on one scale. NaN where a layer has
    fewer heads (already pruned)."""
    return _gate_importance(model, batches, loss_fn, "heads")


def ffn_importance(model: nn.Module, batches: Iterable[Batch], loss_fn: LossFn) -> Tensor:
    """[layers, neurons]: the same score for each FFN (intermediate) neuron; NaN padded."""
    return _gate_importance(model, batches, loss_fn, "ffn")


def _layer_slot(model: nn.Module) -> tuple[nn.Module, str]:
    """The module and attribute holding the layers' ModuleList (BertEncoder, "layer")."""
    layers = encoder_layers(model)
    return next((m, n) for m in model.modules() for n, c in m.named_children() if c is layers)


@torch.no_grad()
def layer_importance(model: nn.Module, batches: Iterable[Batch], loss_fn: LossFn) -> Tensor:
    """[layers]: the mean loss increase when that layer is skipped. Measured, not a gradient on a
    residual gate: removing a whole layer is no small perturbation, and this skip is exactly what
    `drop_layers` does (L+1 forward passes over `batches`)."""
    batches = list(batches)
    owner, attr = _layer_slot(model)
    layers = getattr(owner, attr)
    device = next(model.parameters()).device

    def loss() -> float:
        return sum(float(loss_fn(model, _to(b, device))) for b in batches) / max(1, len(batches))

    out = torch.zeros(len(layers))
    with _eval_mode(model):
        base = loss()
        try:
            for i in range(len(layers)):
                setattr(owner, attr, nn.ModuleList([la for j, la in enumerate(layers) if j != i]))
                out[i] = loss() - base
        finally:
            setattr(owner, attr, layers)
    return out


# --- structured pruning: removing heads, neurons, layers ----------------------------------------------
def _record(model: nn.Module) -> dict[str, Any]:
    """`config.rawtune_pruning`, started on first use: per remaining layer, its original index, the
    original ids of its kept heads, and its FFN width. Saved with the config; `pruned_modeling`
    rebuilds the shapes from it."""
    layers = encoder_layers(model)
    rec = getattr(model.config, pm.STRUCTURE_KEY, None)
    if not rec:
        rec = {
            "layers": list(range(len(layers))),
            "heads": [list(range(n)) for n in _head_counts(layers)],
            "intermediate": _widths(layers),
        }
        setattr(model.config, pm.STRUCTURE_KEY, rec)
    return rec


def _lowest(importance: Tensor, sizes: list[int], count: int) -> list[list[int]]:
    """Per layer, the positions of the `count` globally lowest scores, at least one kept per layer."""
    if importance.dim() != 2 or importance.shape[0] != len(sizes) or importance.shape[1] < max(sizes):
        raise ValueError(f"importance of shape {tuple(importance.shape)} does not fit layers of {sizes}")
    ranked = sorted((float(importance[i, j]), i, j) for i, n in enumerate(sizes) for j in range(n))
    remove: list[list[int]] = [[] for _ in sizes]
    for _score, i, j in ranked:
        if sum(map(len, remove)) == count:
            break
        if sizes[i] - len(remove[i]) > 1:
            remove[i].append(j)
    return remove


def prune_heads(model: nn.Module, fraction: float, importance: Tensor) -> int:
    """Remove `fraction` of the attention heads there are (rounded), the globally least important
    first, keeping at least one per layer. Returns the number removed."""
    layers, rec = encoder_layers(model), _record(model)
    sizes = _head_counts(layers)
    remove = _lowest(importance, sizes, round(fraction * sum(sizes)))
    for i, (layer, gone) in enumerate(zip(layers, remove, strict=True)):
        if gone:
            keep = [h for h in range(sizes[i]) if h not in gone]
            pm.keep_heads(layer.attention, keep)
            rec["heads"][i] = [rec["heads"][i][h] for h in keep]
    return sum(map(len, remove))


def prune_ffn(model: nn.Module, fraction: float, importance: Tensor) -> int:
    """Remove `fraction` of the FFN neurons there are, the globally least important first (so layers
    end up with different widths), keeping at least one per layer. Returns the number removed."""
    layers, rec = encoder_layers(model), _record(model)
    sizes = _widths(layers)
    remove = _lowest(importance, sizes, round(fraction * sum(sizes)))
    for i, (layer, gone) in enumerate(zip(layers, remove, strict=True)):
        if gone:
            keep = torch.ones(sizes[i], dtype=torch.bool)
            keep[gone] = False
            pm.keep_neurons(layer, keep.nonzero().flatten())
            rec["intermediate"][i] = int(keep.sum())
    return sum(map(len, remove))


def drop_layers(model: nn.Module, n: int, importance: Tensor) -> list[int]:
    """Remove the `n` least important layers (at least one stays); renumbers `layer_idx` and sets
    `config.num_hidden_layers`. Returns the removed layers' current indices."""
    owner, attr = _layer_slot(model)
    layers, rec = getattr(owner, attr), _record(model)
    if not 1 <= n < len(layers):
        raise ModelError(f"cannot remove {n} of the model's {len(layers)} layers (at least one stays)")
    if importance.shape != (len(layers),):
        raise ValueError(f"importance of shape {tuple(importance.shape)} for {len(layers)} layers")
    gone = sorted(torch.argsort(importance, stable=True)[:n].tolist())
    keep = [i for i in range(len(layers)) if i not in gone]
    setattr(owner, attr, nn.ModuleList([layers[i] for i in keep]))
    for new, layer in enumerate(getattr(owner, attr)):
        for m in layer.modules():
            if hasattr(m, "layer_idx"):
                m.layer_idx = new
    model.config.num_hidden_layers = len(keep)
    for key in ("layers", "heads", "intermediate"):
        rec[key] = [rec[key][i] for i in keep]
    return gone


def structure(model: nn.Module) -> dict[str, Any]:
    """Layers, heads and FFN width per layer and parameter count, for metrics (parameters only where
    the model is not BERT-family)."""
    out: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
    try:
        layers = encoder_layers(model)
    except ModelError:
        return out
    return {"layers": len(layers), "heads": _head_counts(layers), "intermediate": _widths(layers), **out}
