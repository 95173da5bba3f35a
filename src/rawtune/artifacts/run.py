"""`load_run`: any finished run a rawtune command writes (or a plain `save_pretrained` model, or a
Hugging Face Hub id), loaded for prediction, evaluation, serving, compression, continual learning
and export: its kind is recognised (`artifacts.kinds`) and loaded by that kind's loader."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rawtune.artifacts.kinds import Load, run_kind
from rawtune.artifacts.loaded import LoadedRun, default_device
from rawtune.errors import ModelError

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
DTYPE_CHOICES = ["auto", *DTYPES]

log = logging.getLogger("rawtune")


def load_run(
    path: str | os.PathLike,
    *,
    device: str | None = None,
    base: str | None = None,
    merged: bool = True,
    strict: bool = True,
    dtype: str | None = None,
) -> LoadedRun:
    """A finished run's model in eval mode on `device` (default: `default_device()`), weights cast
    to `dtype` ("bf16", "fp16", "fp32") when given; "auto": bf16 where `modeling.precision.resolve`
    finds it faster on the device the model runs on, else as saved (an int8 or ONNX model always
    as saved, as is a few-shot or zero-shot method's own model), the choice logged on one line. For an adapter run: RUN/model/ when `merged` (or
    the run has no adapter), otherwise base + RUN/adapter/ (a run with no model/ always loads that
    way); `base` names the base model for the adapter; `strict`: refuse `base` for a run without an
    adapter. `path` may be any kind of run `artifacts.kinds` lists: a fine-tuned or compressed run,
    an ONNX export (which runs on the CPU), a few-shot or zero-shot run, a plain `save_pretrained`
    model directory or a Hugging Face Hub id."""
    kind = run_kind(path)
    loaded = kind.open(str(path), Load(default_device(device), base, merged, strict))
    if dtype == "auto":
        dtype = auto_dtype(loaded.model, loaded.run_path) if kind.task_head else None
    if dtype is not None:
        import torch

        if dtype not in DTYPES:
            raise ModelError(f"dtype must be one of {sorted(DTYPE_CHOICES)}, not {dtype!r}")
        if keeps_own_precision(loaded.model, loaded.run_path):
            raise ModelError(f"{path}: an int8 or ONNX model keeps its own precision; dtype does not apply")
        loaded.model.to(getattr(torch, DTYPES[dtype]))
    return loaded


def auto_dtype(model: Any, run_path: Path) -> str | None:
    """`dtype="auto"` for a loaded model: "bf16" where `modeling.precision.resolve` says bf16 runs
    faster on the model's device, else None (as saved); an int8 or ONNX model keeps its own."""
    from rawtune.modeling.precision import resolve

    if keeps_own_precision(model, run_path):
        log.info("%s: precision as saved (an int8 or ONNX model keeps its own)", run_path)
        return None
    param = next(model.parameters(), None)
    if param is None or not param.is_floating_point():
        return None
    choice = resolve("auto", param.device.type)
    log.info("%s: %s", run_path, choice.describe())
    return "bf16" if choice.precision == "bf16" else None


def keeps_own_precision(model: Any, run_path: Path) -> bool:
    """An int8 (saved or converted) or ONNX model: no dtype applies to it."""
    import torch

    from rawtune.artifacts.int8 import is_quantized

    if not isinstance(model, torch.nn.Module) or type(model).__name__ == "OnnxModel":
        return True
    if is_quantized(run_path / "model"):
        return True
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())
