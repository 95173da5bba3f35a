"""`rawtune serve --backend`: the loaded models converted at start-up, for runs that were not
compressed ahead of time (`rawtune compress` gates a conversion on dev data; this one trusts it).

- int8: torch dynamic int8 of every linear layer (what `compress --quantize int8` saves);
- onnx / onnx-int8: the model exported to ONNX into a scratch directory, parity-checked against
  PyTorch by the exporter (1e-4; int8: argmax agreement), and run by onnxruntime.

A run that is already int8 or ONNX keeps its form. All three run on the CPU."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rawtune.errors import ConfigError, ConfigIssue

log = logging.getLogger("rawtune.serve")


def _converted(model: Any) -> str | None:
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    if type(model).__name__ == "OnnxModel":
        return "an ONNX model"
    if any(isinstance(m, QLinear) for m in model.modules()):
        return "an int8 model"
    return None


def backend_device(backend: str, device: str | None) -> str | None:
    """The device to load the runs on for `backend` (int8 and ONNX: the CPU; another is refused)."""
    if backend == "torch":
        return device
    if device not in (None, "cpu"):
        raise ConfigError(
            [ConfigIssue("backend", f"--backend {backend} runs on the CPU; drop --device {device}")]
        )
    return "cpu"


def backend_dtype(backend: str, dtype: str | None) -> str | None:
    """The dtype to load the runs with for `backend`: the torch backend takes any; the others convert
    the weights as saved (auto means that), and an explicit dtype is refused."""
    if backend == "torch" or dtype in (None, "auto"):
        return dtype if backend == "torch" else None
    raise ConfigError(
        [ConfigIssue("dtype", f"--backend {backend} keeps its own precision; drop --dtype {dtype}")]
    )


def apply_backend(predictor: Any, backend: str, workdir: Path, *, device: str | None = None) -> None:
    """Convert every loaded model of `predictor` to `backend` in place (`workdir`: where ONNX graphs
    are written; the caller removes it)."""
    backend_device(backend, device)
    if backend == "torch":
        return
    from rawtune.artifacts.int8 import quantize_int8
    from rawtune.artifacts.kinds import KINDS

    for name in predictor.names:
        entry = predictor.entry(name)
        kind = KINDS.get(getattr(entry, "kind", "finetune"), KINDS["finetune"])
        if not kind.task_head:
            why = f"{name} is {kind.what}: --backend {backend} converts transformers task models only"
            raise ConfigError([ConfigIssue("backend", why)])
        already = _converted(entry.model)
        if already:
            log.info("%s is %s already; served as it is", name, already)
            continue
        model = entry.model.to("cpu").eval()
        if backend == "int8":
            entry.model = quantize_int8(model)
        else:
            from rawtune.artifacts.onnx import load_onnx_model
            from rawtune.export.onnx import export_onnx

            out = workdir / name
            export_onnx(model, entry.tokenizer, out, quantize="int8" if backend == "onnx-int8" else None)
            entry.model = load_onnx_model(out)
        log.info("%s: serving the %s backend", name, backend)
