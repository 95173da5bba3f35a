"""Token classification (NER): words -> sub-word windows -> per-word tags.

Encoding: each sentence is tokenised once (fast tokenizer, pre-split words). A sentence longer than
the model's window is cut into overlapping windows; with `doc_context`, the space left in a window is
filled with the neighbouring sentences of the same document (never scored). A word is labelled at
its first sub-token (or at all of them), and decoded from the window where that first sub-token is
farthest from an edge, so every word gets exactly one prediction. Words the tokenizer turns into
nothing (e.g. a lone zero-width space) are predicted `O`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rawtune.tasks.features import IGNORE, content_size, special_tokens, windows


@dataclass
class EncodedTokens:
    features: list[dict[str, Any]]
    n_words: list[int]  # words per sentence
    uncovered: int = 0  # words with no sub-token (predicted O)
    windows_per_sentence: dict[int, int] = field(default_factory=dict)


def _context(ids: list[list[int]], doc: list[int | None], i: int, budget: int) -> tuple[list[int], list[int]]:
    """Up to `budget` ids from the sentences before and after sentence i in its document, split evenly."""
    left: list[int] = []
    right: list[int] = []
    j, k = i - 1, i + 1
    while len(left) + len(right) < budget and (j >= 0 or k < len(ids)):
        room = budget - len(left) - len(right)
        if j >= 0 and doc[j] == doc[i] and (len(left) <= len(right) or k >= len(ids) or doc[k] != doc[i]):
            left = ids[j][-room:] + left if len(ids[j]) > room else ids[j] + left
            j -= 1
        elif k < len(ids) and doc[k] == doc[i]:
            right = right + ids[k][:room]
            k += 1
        else:
            break
    return left, right


def encode_tokens(
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]] | None,
    *,
    max_length: int,
    stride: int,
    subword_labels: str = "first",
    docs: Sequence[int | None] | None = None,
    b_to_i: dict[int, int] | None = None,
) -> EncodedTokens:
    prefix, suffix = special_tokens(tokenizer)
    size = content_size(tokenizer, max_length)
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
    all_ids: list[list[int]] = enc["input_ids"]
    features: list[dict[str, Any]] = []
    out = EncodedTokens(features, [len(s) for s in sentences])
    doc = list(docs) if docs is not None else [None] * len(sentences)
    for i, ids in enumerate(all_ids):
        word_ids = enc.word_ids(i)
        firsts = [p for p, w in enumerate(word_ids) if w is not None and (p == 0 or word_ids[p - 1] != w)]
        out.uncovered += len(sentences[i]) - len(firsts)
        spans = windows(len(ids), size, stride)
        out.windows_per_sentence[i] = len(spans)
        for start, end in spans:
            left, right = ([], [])
            if doc[i] is not None and end - start < size:
                left, right = _context(all_ids, doc, i, size - (end - start))
            input_ids = prefix + left + ids[start:end] + right + suffix
            base = len(prefix) + len(left) - start
            feat: dict[str, Any] = {"input_ids": input_ids, "sentence": i, "positions": [], "words": []}
            feat["centrality"] = []
            for p in firsts:
                if start <= p < end:
                    feat["positions"].append(base + p)
                    feat["words"].append(word_ids[p])
                    feat["centrality"].append(min(p - start, end - 1 - p))
            if tag_ids is not None:
                feat["labels"] = _labels(
                    len(input_ids), base, start, end, word_ids, firsts, tag_ids[i], subword_labels, b_to_i
                )
            features.append(feat)
    return out


def _labels(
    n: int,
    base: int,
    start: int,
    end: int,
    word_ids: list[int | None],
    firsts: list[int],
    tags: Sequence[int],
    subword_labels: str,
    b_to_i: dict[int, int] | None,
) -> list[int]:
    labels = [IGNORE] * n
    first_set = set(firsts)
    for p in range(start, end):
        w = word_ids[p]
        if w is None:
            continue
        if p in first_set:
            labels[base + p] = tags[w]
        elif subword_labels == "all":  # continuation pieces: I-X for a B-X word
            labels[base + p] = (b_to_i or {}).get(tags[w], tags[w])
    return labels


class TokenClassifierLoss(nn.Module):
    """Cross-entropy over labelled sub-tokens only (optionally class-weighted); one unit per token."""

    def __init__(self, model: nn.Module, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.model = model
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, input_ids, attention_mask, labels, token_type_ids=None) -> dict[str, Any]:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        return self.from_logits(logits, labels)

    def from_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
        """The loss of given logits (distillation computes the student's logits itself)."""
        selected = labels != IGNORE
        logits, target = logits[selected].float(), labels[selected]
        count = int(target.numel())
        losses = F.cross_entropy(logits, target, weight=self.class_weights, reduction="none")
        if self.class_weights is not None:  # weighted mean, as torch's reduction="mean" defines it
            loss = losses.sum() / self.class_weights[target].sum().clamp_min(1e-12)
        else:
            loss = losses.sum() / max(count, 1)
        return {
            "loss": loss,
            "loss_sum": float(loss.detach()) * count,
            "count": count,
            "correct": (logits.detach().argmax(-1) == target).sum(),
        }


class WordDecoder:
    """Collects, batch by batch, one (tag id, probability) per word from the best-centred window,
    and the loss over labelled positions; holds only per-word integers, never logits."""

    def __init__(self, encoded: EncodedTokens, outside_id: int):
        self.encoded = encoded
        # a word no window covers (no sub-tokens) keeps `outside_id`, the O tag
        self.tags = [np.full(n, outside_id, dtype=np.int64) for n in encoded.n_words]
        self.prob = [np.ones(n, dtype=np.float32) for n in encoded.n_words]
        self.best = [np.full(n, -1, dtype=np.int64) for n in encoded.n_words]
        self.loss_sum, self.count = 0.0, 0

    def __call__(self, idx: list[int], batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        if "labels" in batch:
            labels = batch["labels"].to(logits.device)
            sel = labels != IGNORE
            self.loss_sum += float(F.cross_entropy(logits[sel], labels[sel], reduction="sum"))
            self.count += int(sel.sum())
        probs, pred = logits.softmax(-1).max(-1)
        probs, pred = probs.cpu().numpy(), pred.cpu().numpy()
        for row, i in enumerate(idx):
            f = self.encoded.features[i]
            s = f["sentence"]
            for pos, w, c in zip(f["positions"], f["words"], f["centrality"]):
                if c > self.best[s][w]:
                    self.best[s][w], self.tags[s][w], self.prob[s][w] = c, pred[row, pos], probs[row, pos]

    def loss(self) -> float | None:
        return self.loss_sum / self.count if self.count else None
