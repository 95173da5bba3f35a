"""`load_run`: any finished run a rawtune command writes (or a plain `save_pretrained` model, or a
Hugging Face Hub id), loaded for prediction, evaluation, serving, compression, continual learning
and export: its kind is recognised (`artifacts.kinds`) and loaded by that kind's loader."""

from __future__ import annotations

import os

from rawtune.artifacts.kinds import Load, run_kind
from rawtune.artifacts.loaded import LoadedRun, default_device
from rawtune.errors import ModelError

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


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
    to `dtype` ("bf16", "fp16", "fp32") when given. For an adapter run: RUN/model/ when `merged` (or
    the run has no adapter), otherwise base + RUN/adapter/ (a run with no model/ always loads that
    way); `base` names the base model for the adapter; `strict`: refuse `base` for a run without an
    adapter. `path` may be any kind of run `artifacts.kinds` lists: a fine-tuned or compressed run,
    an ONNX export (which runs on the CPU), a few-shot or zero-shot run, a plain `save_pretrained`
    model directory or a Hugging Face Hub id."""
    loaded = run_kind(path).open(str(path), Load(default_device(device), base, merged, strict))
    if dtype is not None:
        import torch

        from rawtune.artifacts.int8 import is_quantized

        if dtype not in DTYPES:
            raise ModelError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
        if not isinstance(loaded.model, torch.nn.Module) or is_quantized(loaded.run_path / "model"):
            raise ModelError(f"{path}: an int8 or ONNX model keeps its own precision; dtype does not apply")
        loaded.model.to(getattr(torch, DTYPES[dtype]))
    return loaded
