"""Weights shared between inference models: a tensor that is byte-for-byte one already loaded (same
kind, dtype, shape, device and values) is replaced by that tensor, so several runs fine-tuned from
one base hold its frozen weights once.

Matching is by content, not by name (peft-wrapped and plain models name the same weight
differently): a sha256 of the bytes finds candidates, `torch.equal` confirms. A model's own tying is
kept as it was: each of its distinct tensors maps to a different stored tensor, so two of its weights
that only happen to be equal (LayerNorm ones) never become one. For models that are only run, never
trained or changed in place: a shared tensor changes every model that holds it."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

Key = tuple[str, torch.dtype, tuple[int, ...], str]  # kind ("param"/"buffer"), dtype, shape, device


def _slots(model: nn.Module) -> Iterator[tuple[nn.Module, str, str, torch.Tensor]]:
    """(module, name, kind, tensor) for every parameter and buffer slot, tied slots included."""
    for module in model.modules():
        for name, t in module._parameters.items():
            if t is not None:
                yield module, name, "param", t
        for name, t in module._buffers.items():
            if t is not None:
                yield module, name, "buffer", t


def _digest(t: torch.Tensor) -> str:
    flat = t.detach().reshape(-1).contiguous().cpu()
    return hashlib.sha256(flat.view(torch.uint8).numpy().tobytes()).hexdigest()


def _plain(t: torch.Tensor) -> bool:
    return t.layout == torch.strided and not t.is_quantized and t.device.type != "meta"


class TensorPool:
    """The tensors of every model loaded so far, indexed by content."""

    def __init__(self) -> None:
        self._by_key: dict[Key, list[torch.Tensor]] = defaultdict(list)
        self._digests: dict[int, str] = {}  # id(tensor) -> digest, computed only when needed
        self._held: dict[int, torch.Tensor] = {}

    def _digest_of(self, t: torch.Tensor) -> str:
        if id(t) not in self._digests:
            self._digests[id(t)] = _digest(t)
        return self._digests[id(t)]

    def share(self, model: nn.Module) -> int:
        """Point `model`'s tensors that equal already pooled ones at those, then pool the rest.
        Returns the bytes no longer held twice."""
        groups: dict[int, list[tuple[nn.Module, str, str]]] = defaultdict(list)
        tensors: dict[int, torch.Tensor] = {}
        for module, name, kind, t in _slots(model):
            groups[id(t)].append((module, name, kind))
            tensors[id(t)] = t
        used = {tid for tid in tensors if tid in self._held}  # pooled tensors this model points at
        fresh: list[tuple[Key, torch.Tensor]] = []
        saved = 0
        for tid, t in tensors.items():
            kinds = {kind for _, _, kind in groups[tid]}
            if tid in self._held or len(kinds) != 1 or not _plain(t):
                continue  # already pooled, both a parameter and a buffer, or not plain memory
            key: Key = (kinds.pop(), t.dtype, tuple(t.shape), str(t.device))
            match = self._find(key, t, used)
            if match is None:
                fresh.append((key, t))
                continue
            used.add(id(match))
            saved += t.numel() * t.element_size()
            for module, name, kind in groups[tid]:
                (module._parameters if kind == "param" else module._buffers)[name] = match
        for key, t in fresh:
            self._by_key[key].append(t)
            self._held[id(t)] = t
        return saved

    def _find(self, key: Key, t: torch.Tensor, used: set[int]) -> torch.Tensor | None:
        candidates = [c for c in self._by_key.get(key, ()) if id(c) not in used]
        if not candidates:
            return None
        digest = _digest(t)
        for c in candidates:
            if self._digest_of(c) == digest and torch.equal(c, t):
                return c
        return None


def storage_bytes(models: Iterable[nn.Module]) -> int:
    """Bytes of the distinct storages behind the parameters and buffers of `models` together."""
    seen: dict[tuple[str, int], int] = {}
    for model in models:
        for _, _, _, t in _slots(model):
            s = t.untyped_storage()
            seen[(str(t.device), s.data_ptr())] = s.nbytes()
    return sum(seen.values())


def memory(models: dict[str, Any]) -> dict[str, Any]:
    """Per model bytes, what they would take loaded apart (`separate`), what they take (`stored`),
    and the difference (`shared`)."""
    per = {name: storage_bytes([m]) for name, m in models.items()}
    stored = storage_bytes(models.values())
    separate = sum(per.values())
    return {"models": per, "separate": separate, "stored": stored, "shared": separate - stored}
