"""What a compressed model is measured by, next to its parent: size on disk and in parameters, CPU
latency at batch 1 and throughput at batch 32 on real dev inputs, forward pass only (tokenisation and
decoding are the same for both and would only dilute the ratio). Parent and child are timed in turns,
repeat by repeat, so drift on a shared machine hits both alike; medians are reported."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx")


def artifact_mb(path: Path) -> float:
    """MB (10^6 bytes) of the weight files in a model directory."""
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.name.endswith(WEIGHT_SUFFIXES)) / 1e6


def parameter_count(model: nn.Module) -> int:
    """Parameters of the model as it computes: a quantized layer counts its weight and bias."""
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    n = sum(p.numel() for p in model.parameters())
    for m in model.modules():
        if isinstance(m, QLinear):
            n += m.weight().numel() + (m.bias().numel() if m.bias() is not None else 0)
    return n


def probe_inputs(task: Any, tokenizer: Any, examples: list[Any], max_length: int) -> list[dict[str, Any]]:
    """One tokenised input per example (the dev set's own texts, truncated to max_length)."""
    from rawtune.data.readers.labeled import TokenExample

    out = []
    for ex in examples:
        if isinstance(ex, TokenExample):  # pre-split words
            enc = tokenizer(ex.tokens, is_split_into_words=True, truncation=True, max_length=max_length)
        elif getattr(ex, "text_b", None) is not None:
            enc = tokenizer(ex.text, ex.text_b, truncation=True, max_length=max_length)
        else:
            enc = tokenizer(ex.text, truncation=True, max_length=max_length)
        out.append(dict(enc))
    return out


def _batches(tokenizer: Any, probes: list[dict[str, Any]], size: int) -> list[dict[str, torch.Tensor]]:
    return [
        dict(tokenizer.pad(probes[i : i + size], return_tensors="pt"))
        for i in range(0, len(probes) - size + 1, size)
    ]


def timing(
    models: dict[str, nn.Module],
    tokenizer: Any,
    probes: list[dict[str, Any]],
    *,
    repeats: int = 3,
    latency_examples: int = 32,
    batch_size: int = 32,
) -> dict[str, dict[str, float]]:
    """Per model: `latency_ms` (median over repeats of the mean batch-1 forward time over
    `latency_examples` inputs) and `throughput` (examples/s at `batch_size`, median over repeats)."""
    singles = _batches(tokenizer, probes[:latency_examples], 1)
    big = _batches(tokenizer, probes, batch_size) or _batches(tokenizer, probes, len(probes))
    lat: dict[str, list[float]] = {k: [] for k in models}
    thr: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for m in models.values():  # warm-up: first calls allocate and pick kernels
            m.eval()(**singles[0])
            m(**big[0])
        for _ in range(repeats):
            for name, m in models.items():
                t0 = time.perf_counter()
                for b in singles:
                    m(**b)
                lat[name].append((time.perf_counter() - t0) / len(singles) * 1000)
                t0 = time.perf_counter()
                n = 0
                for b in big:
                    m(**b)
                    n += b["input_ids"].shape[0]
                thr[name].append(n / (time.perf_counter() - t0))
    return {
        k: {"latency_ms": statistics.median(lat[k]), "throughput": statistics.median(thr[k])} for k in models
    }
