"""Deterministic micro-batch streams. Global micro-batch j is a pure function of (seed, j): epoch
e = j // per_epoch draws its order from a permutation seeded by (seed, e). Resuming after k
optimizer steps restarts the stream at j = k * grad_accum * world, with no state to restore.
With several processes, rank r takes micro-batches r, r + world, r + 2*world, ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

Collate = Callable[[list[dict[str, Any]], list[int], int], dict[str, torch.Tensor]]


@dataclass
class MicroBatch:
    index: int  # global micro-batch index
    epoch: int
    sample_ids: list[int]
    tensors: dict[str, torch.Tensor]
    n_tokens: int


class BatchStream(Protocol):
    micro_per_epoch: int | None

    def iterate(self, start: int, rank: int = 0, world: int = 1) -> Iterator[MicroBatch]: ...


def _n_tokens(tensors: dict[str, torch.Tensor]) -> int:
    mask = tensors.get("attention_mask")
    if mask is not None:
        return int(mask.sum())
    if "input_ids" in tensors:
        return int(tensors["input_ids"].numel())
    return int(next(iter(tensors.values())).shape[0])  # non-text inputs: one unit per example


class ShuffledBatches:
    """Map-style dataset -> endless shuffled micro-batches (last batch of an epoch may be short)."""

    def __init__(
        self,
        dataset: Sequence[dict[str, Any]],
        batch_size: int,
        collate: Collate,
        seed: int,
        shuffle: bool = True,
        lengths: Sequence[int] | None = None,
    ):
        """`lengths`: group examples of similar length into the same micro-batch (less padding):
        each epoch's permutation is cut into pools of 50 batches, each pool sorted by length, and
        the resulting batches shuffled, all seeded by (seed, epoch)."""
        if len(dataset) == 0:
            raise ValueError("empty dataset")
        self.lengths = np.asarray(lengths) if lengths is not None else None
        self.dataset, self.batch_size, self.collate, self.seed, self.shuffle = (
            dataset,
            batch_size,
            collate,
            seed,
            shuffle,
        )
        self.micro_per_epoch = math.ceil(len(dataset) / batch_size)
        self._perm: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            n = len(self.dataset)
            rng = np.random.default_rng([self.seed, epoch, 7])
            perm = rng.permutation(n) if self.shuffle else np.arange(n)
            if self.lengths is not None and self.shuffle:
                perm = self._group(perm, rng)
            self._perm = (epoch, perm)
        return self._perm[1]

    def _group(self, perm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        assert self.lengths is not None
        bs, pool = self.batch_size, self.batch_size * 50
        batches = []
        for i in range(0, len(perm), pool):
            chunk = perm[i : i + pool]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[k : k + bs] for k in range(0, len(chunk), bs)]
        full = [b for b in batches if len(b) == bs]
        short = [b for b in batches if len(b) < bs]  # at most the last of each pool; keep them last
        order = rng.permutation(len(full))
        return np.concatenate([full[k] for k in order] + short) if full else np.concatenate(short)

    def iterate(self, start: int, rank: int = 0, world: int = 1) -> Iterator[MicroBatch]:
        j = start + rank
        while True:
            epoch, k = divmod(j, self.micro_per_epoch)
            ids = [int(i) for i in self.order(epoch)[k * self.batch_size : (k + 1) * self.batch_size]]
            tensors = self.collate([self.dataset[i] for i in ids], ids, epoch)
            yield MicroBatch(
                index=j, epoch=epoch, sample_ids=ids, tensors=tensors, n_tokens=_n_tokens(tensors)
            )
            j += world


class SequentialBatches:
    """An iterable corpus (streaming, larger than memory) in file order, repeated endlessly.
    `blocks_from(skip)` yields one pass of the corpus from block `skip` on. Micro-batch j holds the
    global blocks [j*bs, (j+1)*bs) of the endless repetition; a block's sample id is its global
    number, so masking stays a pure function of (seed, block) and resume needs no state."""

    micro_per_epoch = None

    def __init__(
        self, blocks_from: Callable[[int], Iterator[dict[str, Any]]], batch_size: int, collate: Collate
    ):
        self.blocks_from, self.batch_size, self.collate = blocks_from, batch_size, collate
        self.pass_len: int | None = None

    def _endless(self, g: int) -> Iterator[tuple[int, dict[str, Any]]]:
        while True:
            local = g if self.pass_len is None else g % self.pass_len
            got = 0
            for block in self.blocks_from(local):
                yield g, block
                g += 1
                got += 1
            if self.pass_len is None:
                self.pass_len = local + got if got else sum(1 for _ in self.blocks_from(0))
            if self.pass_len == 0:
                raise ValueError("streaming corpus yielded no blocks")

    def iterate(self, start: int, rank: int = 0, world: int = 1) -> Iterator[MicroBatch]:
        stream = self._endless(start * self.batch_size)
        j = start
        while True:
            chunk = [next(stream) for _ in range(self.batch_size)]
            if (j - start) % world == rank:
                ids = [g for g, _ in chunk]
                tensors = self.collate([b for _, b in chunk], ids, 0)
                yield MicroBatch(
                    index=j, epoch=0, sample_ids=ids, tensors=tensors, n_tokens=_n_tokens(tensors)
                )
            j += 1


def feature_batches(
    features: Sequence[dict[str, Any]],
    batch_size: int,
    collator: Callable[[list[dict[str, Any]]], dict[str, Any]],
    seed: int,
    lengths: Sequence[int] | None = None,
) -> ShuffledBatches:
    """Shuffled micro-batches of encoded examples through a collator of a list of features (a task's,
    which needs neither the sample ids nor the epoch that MLM masking is seeded by)."""
    return ShuffledBatches(
        features, batch_size, lambda samples, _ids, _epoch: collator(samples), seed, lengths
    )
