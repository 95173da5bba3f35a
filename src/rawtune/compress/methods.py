"""The compression methods by name (`quantize`, `onnx`, `distill`, `prune`: the first of the
config's `methods`). Each member module registers its method; the registry knows their modules and
imports them on first lookup.

A method's `compress(cfg, parent, labeled dev data, run, resume)` makes the compressed model, saves
it to RUN/model/ (atomically) and returns (the model to measure, what it adds to metrics.json);
`record(cfg)` is what the run's manifest records of the method."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rawtune.registry import Registry


@dataclass(frozen=True)
class Compressor:
    compress: Callable[..., tuple[Any, dict[str, Any]]]
    record: Callable[[Any], dict[str, Any]]


COMPRESSORS: Registry[Compressor] = Registry(
    "compression method",
    members=("rawtune.compress.quantize", "rawtune.compress.onnx_export", "rawtune.compress.train"),
)
