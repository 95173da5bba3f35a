"""The dynamic int8 form of a model (`rawtune compress --quantize int8`): torch's `quantize_dynamic`
on the linear layers, int8 weights with one scale per output channel, activations quantized per batch
at run time. Per-channel rather than torch's per-tensor default: on the MiniLM CoNLL-2003 model
(README) it loses 0.56 F1 points instead of 1.42.

On disk (written by `compress.quantize.save_quantized`): `config.json`, the tokenizer,
`rawtune_quantized.json` (the scheme, the auto class, the quantized modules, tied-tensor aliases) and
one safetensors file with each quantized layer's int8 weight, scale, zero point and bias and every
other tensor as is. Loading builds the model from its config, quantizes it the same way and puts the
tensors back, so the reloaded model computes exactly what the saved one did."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from rawtune.errors import ModelError

META = "rawtune_quantized.json"
WEIGHTS = "model.int8.safetensors"
SCHEME = "dynamic-int8"


def quantized_linears(model: nn.Module) -> dict[str, nn.Module]:
    """The dynamically quantized linear layers of `model`, by name."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return {n: m for n, m in model.named_modules() if isinstance(m, QLinear)}


def quantize_int8(
    model: nn.Module, *, keep_fp32: Sequence[str] = (), only: Sequence[str] | None = None
) -> nn.Module:
    """A copy of `model` (eval mode) with its nn.Linear layers dynamically quantized to int8: all of
    them but those whose name matches a `keep_fp32` regular expression, or exactly the layers `only`
    names (how a saved model is rebuilt)."""
    import re
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if only is not None:
        chosen = [n for n in names if n in set(only)]
    else:
        chosen = [n for n in names if not any(re.search(k, n) for k in keep_fp32)]
    with warnings.catch_warnings():  # torch.ao's eager quantization points users at torchao on every call
        warnings.simplefilter("ignore")
        spec = {n: per_channel_dynamic_qconfig for n in chosen}
        return quantize_dynamic(model.eval(), spec, dtype=torch.qint8, inplace=False)


def is_quantized(path: Path) -> bool:
    return (Path(path) / META).is_file()


def plain_tensors(model: nn.Module, quantized: dict[str, nn.Module]) -> Iterator[tuple[str, torch.Tensor]]:
    """(full name, tensor) of the parameters and buffers outside the quantized layers."""
    inside = tuple(f"{q}." for q in quantized)
    for mod_name, module in model.named_modules():
        if mod_name in quantized or mod_name.startswith(inside):
            continue
        for attr in ("_parameters", "_buffers"):
            for name, t in getattr(module, attr).items():
                if t is not None and not t.is_quantized:
                    yield (f"{mod_name}.{name}" if mod_name else name), t


def load_quantized(path: Path, auto_class_name: str | None = None) -> nn.Module:
    import transformers
    from safetensors.torch import load_file

    from rawtune.modeling.pruned import config_is_pruned, pruned_class_for

    path = Path(path)
    meta = json.loads((path / META).read_text())
    if meta.get("scheme") != SCHEME:
        raise ModelError(
            f"{path}: unknown quantization scheme {meta.get('scheme')!r} (this rawtune reads {SCHEME})"
        )
    auto_name = auto_class_name or meta["auto_class"]
    config = transformers.AutoConfig.from_pretrained(path)
    if config_is_pruned(config):  # a pruned parent: its per-layer shapes, then the int8 layers over them
        skeleton = pruned_class_for(config, auto_name)(config)
    else:
        skeleton = getattr(transformers, auto_name).from_config(config)
    model = quantize_int8(skeleton, only=meta["modules"])
    quantized = quantized_linears(model)
    if sorted(quantized) != meta["modules"]:
        raise ModelError(f"{path}: the quantized layers do not match the model built from its config.json")
    state = load_file(str(path / WEIGHTS))
    for name, m in quantized.items():
        int8, scale, zero = (state.pop(f"{name}.weight_{k}") for k in ("int8", "scale", "zero_point"))
        axis = state.pop(f"{name}.weight_axis", None)
        if axis is None:
            q = torch._make_per_tensor_quantized_tensor(int8, float(scale), int(zero))
        else:
            q = torch._make_per_channel_quantized_tensor(int8, scale, zero, int(axis))
        m.set_weight_bias(q, state.pop(f"{name}.bias", None))
    plain = dict(plain_tensors(model, quantized))
    for alias, name in meta.get("aliases", {}).items():
        state.setdefault(alias, state[name])
    missing, unexpected = sorted(set(plain) - set(state)), sorted(set(state) - set(plain))
    if missing or unexpected:
        raise ModelError(
            f"{path}: {WEIGHTS} does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    with torch.no_grad():
        for name, t in plain.items():
            t.copy_(state[name])
    return model.eval()
