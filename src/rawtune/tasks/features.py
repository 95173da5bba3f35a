"""What labeled tasks share: windows over long token sequences, a padding collator, and a batched
forward pass for evaluation and prediction that reduces each batch before the next (logits are
never accumulated across a dataset)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from rawtune.train.devices import model_device, to_device

IGNORE = -100


def windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Spans [start, end) of at most `size` covering range(n); neighbours share `stride` items.
    Every item is inside at least one span (n == 0 gives one empty span)."""
    if n <= size:
        return [(0, n)]
    step = size - stride
    spans, start = [], 0
    while True:
        end = min(start + size, n)
        spans.append((start, end))
        if end == n:
            return spans
        start += step


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Special ids the tokenizer puts before and after one segment ([CLS] / [SEP] for BERT, <s> / </s>
    for RoBERTa, none for GPT-2), read from its post-processor by encoding a probe word."""
    full = tokenizer("a")["input_ids"]
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    at = next(i for i in range(len(full)) if full[i : i + len(bare)] == bare)
    return full[:at], full[at + len(bare) :]


def content_size(tokenizer: Any, max_length: int) -> int:
    """Content tokens that fit in a window of `max_length` with the special tokens added."""
    return max_length - tokenizer.num_special_tokens_to_add(pair=False)


# per-token inputs padded beside input_ids, with their padding value
TOKEN_FIELDS = {"token_type_ids": 0, "segment_ids": -1}


class PadCollator:
    """Pads `input_ids` (and `token_type_ids`, `segment_ids`) to the longest in the batch rounded up
    to a multiple of 8 (tensor-core and SIMD friendly), builds the attention mask, and stacks labels:
    per-token lists are padded with -100, scalars become a tensor, multi-hot lists a float matrix.
    A `weight` per sample (weighted training examples, see `example_weights`) is stacked beside."""

    def __init__(self, pad_id: int, label_kind: str = "tokens"):
        self.pad_id, self.label_kind = pad_id, label_kind

    def __call__(
        self, samples: list[dict[str, Any]], sample_ids: list[int] | None = None, epoch: int = 0
    ) -> dict[str, torch.Tensor]:
        width = math.ceil(max(len(s["input_ids"]) for s in samples) / 8) * 8
        ids = np.full((len(samples), width), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        extra = {k: np.full_like(ids, pad) for k, pad in TOKEN_FIELDS.items() if k in samples[0]}
        for row, s in enumerate(samples):
            n = len(s["input_ids"])
            ids[row, :n] = s["input_ids"]
            mask[row, :n] = 1
            for k, arr in extra.items():
                arr[row, :n] = s[k]
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        batch.update({k: torch.from_numpy(arr) for k, arr in extra.items()})
        if "labels" in samples[0]:
            batch["labels"] = self._labels([s["labels"] for s in samples], width)
        if "weight" in samples[0]:
            batch["weight"] = torch.tensor([s["weight"] for s in samples], dtype=torch.float32)
        return batch

    def _labels(self, labels: list[Any], width: int) -> torch.Tensor:
        if self.label_kind == "tokens":
            out = np.full((len(labels), width), IGNORE, dtype=np.int64)
            for row, lab in enumerate(labels):
                out[row, : len(lab)] = lab
            return torch.from_numpy(out)
        if self.label_kind in ("multi", "regression"):
            return torch.tensor(labels, dtype=torch.float32)
        return torch.tensor(labels, dtype=torch.int64)


def example_weights(features: list[dict[str, Any]], examples: Sequence[Any], key: str) -> None:
    """Give every feature the loss `weight` of its example (`feature[key]` indexes `examples`; a
    list there, as NER windows list their sentences, names examples of one file and so of one
    weight), when any example has a weight other than 1; an unweighted set's features are left as
    they are, so its batches and losses are what they always were."""
    weights = [ex.weight for ex in examples]
    if all(w == 1.0 for w in weights):
        return
    for f in features:
        owner = f[key]
        if isinstance(owner, list):
            owner = owner[0] if owner else None
        f["weight"] = 1.0 if owner is None else weights[owner]


def length_batches(features: Sequence[dict[str, Any]], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (inference: least padding, order restored
    by the caller)."""
    order = sorted(range(len(features)), key=lambda i: -len(features[i]["input_ids"]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def forward_batches(
    model: torch.nn.Module,
    features: Sequence[dict[str, Any]],
    collate: PadCollator,
    batch_size: int,
    reduce: Callable[[list[int], dict[str, torch.Tensor], torch.Tensor], None],
    *,
    autocast: Callable[[], Any] | None = None,
    progress: Callable[[int], None] | None = None,
    outputs: Callable[[Any], torch.Tensor] | None = None,
) -> None:
    """Run the model over `features` in length-grouped batches; `reduce(indices, batch, logits)`
    consumes each batch's logits (to argmax, probabilities of a few classes, a loss sum) at once.
    `outputs` picks the tensor from the model's output (default: its `.logits`). Each batch is
    placed on the model's device (`reduce` gets it as collated, on the CPU)."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    try:
        for idx in length_batches(features, batch_size):
            batch = collate([features[i] for i in idx])
            inputs = to_device({k: v for k, v in batch.items() if k != "labels"}, device)
            with autocast() if autocast is not None else _null():
                out = model(**inputs)
                logits = outputs(out) if outputs is not None else out.logits
            reduce(idx, batch, logits.float())
            if progress is not None:
                progress(len(idx))
    finally:
        model.train(was_training)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def chunked(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def balanced_weights(counts: Counter, labels: tuple[str, ...]) -> torch.Tensor:
    """sklearn's 'balanced' class weights, n / (k * count); unseen classes get weight 1."""
    total, k = sum(counts.values()), len(labels)
    return torch.tensor([total / (k * counts[lab]) if counts[lab] else 1.0 for lab in labels])
