"""Pruning for `rawtune compress --prune SPEC`.

Two kinds, with different payoffs:

- Unstructured magnitude pruning zeroes the smallest encoder linear weights (Zhu & Gupta 2017,
  one-shot or on a cubic schedule during recovery training). The model keeps its shapes: it gets
  sparse, not smaller or faster on dense kernels.
- Structured pruning physically removes attention heads and FFN neurons (ranked by Michel et al.
  2019's gradient of a gate on each) and whole layers (ranked by the loss increase when skipped), so
  the model is smaller and faster. A BERT-family config cannot state per-layer head or neuron counts,
  so the structure goes into `config.rawtune_pruning` and `save_pruned` ships the code that rebuilds
  it (`pruned_modeling.py`).

Importance is computed with `torch.autograd.grad` on the gates only: it leaves the parameters'
`.grad` untouched (training's backward stays in train/loop.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from rawtune.compress import pruned_modeling as pm
from rawtune.errors import ConfigError, ConfigIssue, ModelError
from rawtune.modeling.heads import _layers

if TYPE_CHECKING:
    from rawtune.train.loop import StepResult

log = logging.getLogger("rawtune")

Batch = dict[str, Tensor]
LossFn = Callable[[nn.Module, Batch], Tensor]
KINDS = {
    "magnitude": "a fraction of the encoder's linear weights",
    "heads": "a fraction of the attention heads",
    "ffn": "a fraction of the FFN neurons",
    "layers": "a number of layers",
}
FAMILY = "BERT-family encoders (BERT, RoBERTa, XLM-R, ELECTRA, MiniLM)"
MODULE_FILE = "modeling_rawtune_pruned.py"


# --- the spec -----------------------------------------------------------------------------------------
def parse_prune_spec(spec: str, key: str = "prune.spec") -> list[tuple[str, float | int]]:
    """'heads:0.3,ffn:0.2,layers:1,magnitude:0.5' -> [("heads", 0.3), ...], applied in that order.
    Fractions are in (0, 1); `layers` is a whole count >= 1. Each kind at most once."""

    def bad(message: str) -> ConfigError:
        return ConfigError([ConfigIssue(key, f"{message} in {spec!r}; expected e.g. 'heads:0.3,layers:1'")])

    out: list[tuple[str, float | int]] = []
    for part in (spec or "").split(","):
        kind, sep, value = (s.strip() for s in part.partition(":"))
        if not sep or not kind or not value:
            raise bad(f"'{part.strip()}' is not KIND:AMOUNT (kinds: {', '.join(KINDS)})")
        if kind not in KINDS:
            raise bad(f"unknown kind '{kind}' (kinds: {', '.join(KINDS)})")
        if any(k == kind for k, _ in out):
            raise bad(f"'{kind}' given twice")
        try:
            amount = float(value)
        except ValueError:
            raise bad(f"{kind}: '{value}' is not a number ({KINDS[kind]})") from None
        if kind == "layers":
            if amount != int(amount) or amount < 1:
                raise bad(f"layers: '{value}' is not a whole number >= 1 (layers to remove)")
            out.append((kind, int(amount)))
        elif not 0 < amount < 1:
            raise bad(f"{kind}: {value} is not a fraction in (0, 1) ({KINDS[kind]})")
        else:
            out.append((kind, amount))
    return out


# --- unstructured magnitude pruning -------------------------------------------------------------------
def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights of the nn.Linear modules inside the transformer layers, by parameter name: not the
    embeddings, the pooler or the task head, whose few weights matter most per parameter."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), model)
    inside = {id(m) for m in _layers(base).modules()}
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


# --- saving and loading -------------------------------------------------------------------------------
def _base_class_name(model: nn.Module) -> str:
    cls = type(model)
    return getattr(cls, "rawtune_base_class", None) or next(
        c.__name__ for c in cls.__mro__ if c.__module__.startswith("transformers.")
    )


def _uniform(config: Any, rec: dict[str, Any]) -> bool:
    """Whether a plain config can state the structure: all heads everywhere, one FFN width."""
    full = all(len(h) == config.num_attention_heads for h in rec["heads"])
    return full and len(set(rec["intermediate"])) == 1


def save_pruned(model: nn.Module, out: Path | str, tokenizer: Any, auto_class_name: str) -> None:
    """`save_pretrained` + the tokenizer. Where the structure differs per layer, also
    `modeling_rawtune_pruned.py` (this package's pruned_modeling.py plus the class line) and
    `config.auto_map`, so `AutoModelFor*.from_pretrained(out, trust_remote_code=True)` loads it with
    plain transformers; rawtune's `load_task_model` loads it without remote code. Where only layers
    were dropped or every layer has the same FFN width, the config says it all and the directory is
    an ordinary transformers model."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    rec = getattr(config, pm.STRUCTURE_KEY, None)
    if rec and _uniform(config, rec):
        config.intermediate_size = rec["intermediate"][0]
        config.__dict__.pop("auto_map", None)
    elif rec:
        base = _base_class_name(model)
        name = pm.CLASS_PREFIX + base
        source = Path(pm.__file__).read_text()
        footer = f"\n\n# the class `config.auto_map` names\n{name} = pruned_class({base!r})\n"
        (out / MODULE_FILE).write_text(source + footer)
        config.auto_map = {auto_class_name: f"{MODULE_FILE.removesuffix('.py')}.{name}"}
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)


def is_pruned(path: Path | str) -> bool:
    """A saved model with a pruned structure in its config.json."""
    import json

    config = Path(path) / "config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get(pm.STRUCTURE_KEY))


def pruned_model_class(path: Path | str, auto_class_name: str) -> type:
    """The in-package class that loads the pruned model at `path` as `auto_class_name` would."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    base = getattr(transformers, auto_class_name)._model_mapping[type(config)]
    return pm.pruned_class(base.__name__)
