"""Sequence classification and sentence pairs: single-label, multi-label, or regression.

A single text longer than the window is split into overlapping windows, each trained with the
text's label; at evaluation and prediction the windows' logits are averaged per text. Pairs are
truncated longest-first to the window (both sentences matter; windowing a pair is ill-defined).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rawtune.tasks.features import content_size, special_tokens, windows


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    texts_b: Sequence[str] | None,
    labels: Sequence[Any] | None,
    *,
    max_length: int,
    stride: int,
) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    if texts_b is not None:
        enc = tokenizer(list(texts), list(texts_b), truncation="longest_first", max_length=max_length)
        for i in range(len(texts)):
            f = {"input_ids": enc["input_ids"][i], "example": i}
            if "token_type_ids" in enc:
                f["token_type_ids"] = enc["token_type_ids"][i]
            if labels is not None:
                f["labels"] = labels[i]
            features.append(f)
        return features
    prefix, suffix = special_tokens(tokenizer)
    size = content_size(tokenizer, max_length)
    enc = tokenizer(list(texts), add_special_tokens=False)
    for i, ids in enumerate(enc["input_ids"]):
        for start, end in windows(len(ids), size, stride):
            f = {"input_ids": prefix + ids[start:end] + suffix, "example": i}
            if labels is not None:
                f["labels"] = labels[i]
            features.append(f)
    return features


def _loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    kind: str,
    weights: torch.Tensor | None,
    example_weights: torch.Tensor | None = None,
):
    if example_weights is not None:
        return _weighted_loss(logits, labels, kind, weights, example_weights)
    if kind == "regression":
        return F.mse_loss(logits.squeeze(-1), labels, reduction="sum")
    if kind == "multi":
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / logits.shape[-1]
    return F.cross_entropy(logits, labels, weight=weights, reduction="sum")


def _weighted_loss(
    logits: torch.Tensor, labels: torch.Tensor, kind: str, weights: torch.Tensor | None, example: torch.Tensor
) -> torch.Tensor:
    """`_loss` with each window's loss times its example's weight."""
    if kind == "regression":
        each = F.mse_loss(logits.squeeze(-1), labels, reduction="none")
    elif kind == "multi":
        each = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(-1) / logits.shape[-1]
    else:
        each = F.cross_entropy(logits, labels, weight=weights, reduction="none")
    return (each * example.to(each.dtype)).sum()


class SequenceClassifierLoss(nn.Module):
    """One unit per window; cross-entropy, per-label BCE (multi-label) or MSE (regression). A
    `weight` per window (weighted examples, e.g. pseudo-labels) scales its loss; the mean still
    divides by the windows, so a weight below 1 makes those examples count for less."""

    def __init__(self, model: nn.Module, kind: str, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.model, self.kind = model, kind
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, input_ids, attention_mask, labels, token_type_ids=None, weight=None) -> dict[str, Any]:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        return self.from_logits(logits, labels, weight)

    def from_logits(
        self, logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None
    ) -> dict[str, Any]:
        """The loss of given logits (distillation computes the student's logits itself)."""
        logits = logits.float()
        n = int(labels.shape[0])
        loss_sum = _loss(logits, labels, self.kind, self.class_weights, weight)
        if self.kind == "single" and self.class_weights is not None:
            loss = loss_sum / self.class_weights[labels].sum().clamp_min(1e-12)
        else:
            loss = loss_sum / max(n, 1)
        out: dict[str, Any] = {"loss": loss, "loss_sum": loss.detach().double() * n, "count": n}
        if self.kind == "single":
            out["correct"] = (logits.detach().argmax(-1) == labels).sum()
        return out


class TextDecoder:
    """Averages window logits per text (a handful of floats per text) and sums the loss."""

    def __init__(self, features: Sequence[dict[str, Any]], n_texts: int, n_out: int, kind: str):
        self.features, self.kind = features, kind
        self.sums = np.zeros((n_texts, n_out), dtype=np.float64)
        self.counts = np.zeros(n_texts, dtype=np.int64)
        self.loss_sum, self.count = 0.0, 0

    def __call__(self, idx: list[int], batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        if "labels" in batch:
            labels = batch["labels"].to(logits.device)
            self.loss_sum += float(_loss(logits, labels, self.kind, None))
            self.count += len(idx)
        arr = logits.cpu().numpy()
        for row, i in enumerate(idx):
            ex = self.features[i]["example"]
            self.sums[ex] += arr[row]
            self.counts[ex] += 1

    def logits(self) -> np.ndarray:
        return self.sums / np.maximum(self.counts, 1)[:, None]

    def scores(self) -> np.ndarray:
        """Probabilities (softmax / sigmoid) or the regression value, per text."""
        z = self.logits()
        if self.kind == "regression":
            return z[:, 0]
        if self.kind == "multi":
            return 1.0 / (1.0 + np.exp(-z))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def loss(self) -> float | None:
        return self.loss_sum / self.count if self.count else None
