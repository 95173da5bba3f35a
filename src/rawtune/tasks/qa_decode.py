"""Extractive QA post-processing, reduced batch by batch: for each window, the `n_best` highest
start and end logits over its context tokens are paired (end not before start, at most
`max_answer_length` tokens), and each question keeps only its `n_best` best spans over all of its
windows plus its no-answer score; no logits outlive their batch.

A span's score is start logit + end logit; the no-answer score is the same at [CLS] (position 0),
the lowest over the question's windows. With unanswerable questions allowed (SQuAD v2) the answer is
empty when the no-answer score exceeds the best span's score by more than `null_threshold`. The
`score` reported is a probability: the span's softmax start x end probability in its window (for
an empty answer, that of [CLS]).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rawtune.tasks.qa_features import CLS, span_loss


@dataclass(frozen=True, order=True)
class Span:
    score: float  # start logit + end logit
    start: int  # character offsets in the context
    end: int
    prob: float


@dataclass(frozen=True)
class Decision:
    answer: str
    start: int  # character offsets: context[start:end] == answer (0, 0 for no answer)
    end: int
    score: float


class SpanDecoder:
    def __init__(
        self, features: Sequence[dict[str, Any]], n_examples: int, *, n_best: int, max_answer_length: int
    ):
        self.features, self.n_best, self.max_len = features, n_best, max_answer_length
        self.spans: list[list[Span]] = [[] for _ in range(n_examples)]  # min-heaps of n_best spans
        self.null: list[tuple[float, float] | None] = [None] * n_examples  # (score, prob)
        self.loss_sum, self.count = 0.0, 0

    def __call__(self, idx: list[int], batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        """`logits`: (batch, length, 2) start and end logits of the windows `idx`."""
        start, end = logits[..., 0], logits[..., 1]
        mask = batch["attention_mask"].to(logits.device)
        if "start_positions" in batch:
            gold = [batch[k].to(logits.device) for k in ("start_positions", "end_positions")]
            self.loss_sum += float(span_loss(start, end, mask, *gold))
            self.count += len(idx)
        context = torch.zeros_like(mask, dtype=torch.bool)
        for row, i in enumerate(idx):
            pos = [p for p, o in enumerate(self.features[i]["offsets"]) if o is not None]
            context[row, pos] = True
        pad = mask == 0
        log_s = start.masked_fill(pad, float("-inf")).log_softmax(-1)
        log_e = end.masked_fill(pad, float("-inf")).log_softmax(-1)
        k = min(self.n_best, start.shape[1])
        top_s = start.masked_fill(~context, float("-inf")).topk(k, dim=-1).indices
        top_e = end.masked_fill(~context, float("-inf")).topk(k, dim=-1).indices
        rows = torch.arange(len(idx), device=logits.device)[:, None, None]
        a, b = top_s[:, :, None], top_e[:, None, :]  # (batch, k, 1), (batch, 1, k): every pair
        ok = (b >= a) & (b - a < self.max_len) & context[rows, a] & context[rows, b]
        score = (start[rows, a] + end[rows, b]).masked_fill(~ok, float("-inf"))
        prob = (log_s[rows, a] + log_e[rows, b]).exp()
        null = (start[:, CLS] + end[:, CLS]).tolist()
        null_prob = (log_s[:, CLS] + log_e[:, CLS]).exp().tolist()
        flat = score.flatten(1)
        best = flat.topk(min(self.n_best, flat.shape[1]), dim=-1)
        pairs = best.indices.cpu().numpy()
        values = best.values.cpu().numpy()
        a_np, b_np, p_np = top_s.cpu().numpy(), top_e.cpu().numpy(), prob.flatten(1).cpu().numpy()
        for row, i in enumerate(idx):
            ex = self.features[i]["example"]
            if self.null[ex] is None or null[row] < self.null[ex][0]:
                self.null[ex] = (null[row], null_prob[row])
            offsets = self.features[i]["offsets"]
            for flat_j, value in zip(pairs[row], values[row]):
                if value == float("-inf"):
                    break
                sa, eb = a_np[row, flat_j // k], b_np[row, flat_j % k]
                span = Span(float(value), offsets[sa][0], offsets[eb][1], float(p_np[row, flat_j]))
                self._keep(ex, span)

    def _keep(self, ex: int, span: Span) -> None:
        heap = self.spans[ex]
        if len(heap) < self.n_best:
            heapq.heappush(heap, span)
        elif span > heap[0]:
            heapq.heapreplace(heap, span)

    def decide(self, contexts: Sequence[str], *, allow_null: bool, null_threshold: float) -> list[Decision]:
        out = []
        for ex, context in enumerate(contexts):
            best = max(self.spans[ex]) if self.spans[ex] else None
            null = self.null[ex]
            if best is None or (allow_null and null is not None and null[0] > best.score + null_threshold):
                out.append(Decision("", 0, 0, null[1] if allow_null and null is not None else 0.0))
            else:
                out.append(Decision(context[best.start : best.end], best.start, best.end, best.prob))
        return out

    def margins(self, contexts: Sequence[str]) -> list[tuple[str, float]]:
        """Per question: the best span's text ("" when there is none) and its no-answer margin, the
        no-answer score minus the best span's score (+inf without a span). The answer is empty exactly
        when the margin exceeds `null_threshold`, so these are what a threshold search needs."""
        out = []
        for ex, context in enumerate(contexts):
            best = max(self.spans[ex]) if self.spans[ex] else None
            null = self.null[ex]
            if best is None:
                out.append(("", float("inf")))
            else:
                margin = null[0] - best.score if null is not None else float("-inf")
                out.append((context[best.start : best.end], margin))
        return out

    def loss(self) -> float | None:
        return self.loss_sum / self.count if self.count else None
