"""`rawtune compress --quantize int8`: the parent's linear layers quantized to dynamic int8 (the form
itself, and how it is quantized and loaded, is `artifacts.int8`), written without pickle.

A dynamically quantized model has no `save_pretrained`, and its `state_dict` holds packed C++ objects
that only `torch.save` (pickle) can write. So the artifact is written by hand: `config.json`, the
tokenizer, `rawtune_quantized.json` (the scheme and the quantized modules) and one safetensors file
with each quantized layer's int8 weight, scale, zero point and bias and every other tensor as is."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rawtune.artifacts.int8 import META, SCHEME, WEIGHTS, plain_tensors, quantized_linears
from rawtune.compress.methods import COMPRESSORS, Compressor

log = logging.getLogger("rawtune")


def save_quantized(model: nn.Module, out: Path, tokenizer: Any, auto_class_name: str) -> None:
    from safetensors.torch import save_file

    quantized = quantized_linears(model)
    tensors: dict[str, torch.Tensor] = {}
    for name, m in quantized.items():
        w = m.weight()
        tensors[f"{name}.weight_int8"] = w.int_repr().contiguous()
        if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            tensors[f"{name}.weight_scale"] = w.q_per_channel_scales().to(torch.float64).contiguous()
            tensors[f"{name}.weight_zero_point"] = w.q_per_channel_zero_points().to(torch.int64).contiguous()
            tensors[f"{name}.weight_axis"] = torch.tensor(w.q_per_channel_axis(), dtype=torch.int64)
        else:
            tensors[f"{name}.weight_scale"] = torch.tensor(w.q_scale(), dtype=torch.float64)
            tensors[f"{name}.weight_zero_point"] = torch.tensor(w.q_zero_point(), dtype=torch.int64)
        if m.bias() is not None:
            tensors[f"{name}.bias"] = m.bias().detach().contiguous()
    seen: dict[int, str] = {}
    aliases: dict[str, str] = {}  # tied tensors are stored once
    for name, t in plain_tensors(model, quantized):
        if id(t) in seen:
            aliases[name] = seen[id(t)]
            continue
        seen[id(t)] = name
        tensors[name] = t.detach().contiguous()
    save_file(tensors, str(out / WEIGHTS))
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = {"scheme": SCHEME, "auto_class": auto_class_name, "modules": sorted(quantized), "aliases": aliases}
    (out / META).write_text(json.dumps(meta, indent=2) + "\n")


def quantize(cfg: Any, parent: Any, labeled: Any, run: Any, resume: bool) -> tuple[nn.Module, dict[str, Any]]:
    from rawtune.artifacts.int8 import quantize_int8
    from rawtune.train.run import save

    log.info("quantizing %s (dynamic int8, every linear layer)", parent.run_path)
    child = quantize_int8(parent.model, keep_fp32=cfg.keep_fp32)
    save(run, {"model": lambda d: save_quantized(child, d, parent.tokenizer, parent.task.auto_class_name)})
    return child, {}


COMPRESSORS.register("quantize")(Compressor(quantize, lambda cfg: {"quantize": cfg.quantize}))
