"""Extractive QA encoding: question + context pairs cut into overlapping windows by the fast
tokenizer (`truncation="only_second"`, `stride`, `return_overflowing_tokens`, offsets), the start/end
token labels of each window, the collator, and the loss.

A window whose context part holds the first gold answer is labelled with the answer's first and
last tokens; every other window (and every window of a question without an answer) with position 0,
the [CLS] / <s> token, as the BERT and Hugging Face recipes do. The question always comes first:
it is cut to `max_question_length` tokens (and to what leaves the context more than `stride`
tokens of the window, which the tokenizer requires), then the context fills the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rawtune.tasks.features import PadCollator

CLS = 0  # the no-answer position


def _questions(tokenizer: Any, questions: Sequence[str], limit: int) -> list[str]:
    """Questions without leading whitespace, each cut after its `limit`-th token (by offsets)."""
    stripped = [q.lstrip() for q in questions]
    enc = tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)
    return [
        q if len(offs) <= limit else q[: offs[limit - 1][1]]
        for q, offs in zip(stripped, enc["offset_mapping"])
    ]


def question_limit(tokenizer: Any, max_length: int, stride: int, max_question_length: int) -> int:
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - stride - 1
    return max(1, min(max_question_length, room))


def _span(offsets: list[tuple[int, int] | None], start: int, end: int) -> tuple[int, int]:
    """(first, last) token positions of characters [start, end) when the window's context covers
    them, else (CLS, CLS)."""
    ctx = [p for p, o in enumerate(offsets) if o is not None]
    if not ctx or offsets[ctx[0]][0] > start or offsets[ctx[-1]][1] < end:
        return CLS, CLS
    first = max(p for p in ctx if offsets[p][0] <= start)
    last = min(p for p in ctx if offsets[p][1] >= end)
    return first, max(first, last)


def encode_questions(
    tokenizer: Any,
    examples: Sequence[Any],
    *,
    max_length: int,
    stride: int,
    max_question_length: int,
    labels: bool,
    offsets: bool,
) -> list[dict[str, Any]]:
    """One feature per window: input ids (and token types), `example` (its index in `examples`),
    with `labels` the `start_positions`/`end_positions` of the first gold answer, with `offsets` the
    character span in the context of every context token (None for question and special tokens)."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("extractive QA needs a fast tokenizer (character offsets)")
    limit = question_limit(tokenizer, max_length, stride, max_question_length)
    enc = tokenizer(
        _questions(tokenizer, [ex.question for ex in examples], limit),
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    features = []
    for f, ids in enumerate(enc["input_ids"]):
        i = enc["overflow_to_sample_mapping"][f]
        seq = enc.sequence_ids(f)
        spans = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][f], seq)]
        feat: dict[str, Any] = {"input_ids": ids, "example": i}
        if "token_type_ids" in enc:
            feat["token_type_ids"] = enc["token_type_ids"][f]
        if labels:
            answers = examples[i].answers
            first, last = _span(spans, answers[0].start, answers[0].end) if answers else (CLS, CLS)
            feat["start_positions"], feat["end_positions"] = first, last
        if offsets:
            feat["offsets"] = spans
        features.append(feat)
    return features


class QACollator:
    """`PadCollator`'s padded inputs plus the start/end positions of labelled windows."""

    def __init__(self, pad_id: int):
        self.pad = PadCollator(pad_id)

    def __call__(self, samples: list[dict[str, Any]], *_: Any) -> dict[str, torch.Tensor]:
        batch = self.pad(samples)
        if "start_positions" in samples[0]:
            for key in ("start_positions", "end_positions"):
                batch[key] = torch.tensor([s[key] for s in samples], dtype=torch.int64)
        return batch


def span_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    mask: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """Summed over the batch: the mean of the start and end cross-entropies per window, over its
    real tokens (padding is masked out, so the loss does not depend on how a batch is padded)."""
    pad = mask == 0
    s = start_logits.float().masked_fill(pad, float("-inf"))
    e = end_logits.float().masked_fill(pad, float("-inf"))
    return (F.cross_entropy(s, start, reduction="sum") + F.cross_entropy(e, end, reduction="sum")) / 2


class QuestionAnsweringLoss(nn.Module):
    """What `train.fit` trains: the span loss of an `AutoModelForQuestionAnswering` (or its PEFT
    wrapper); `correct` counts windows whose start and end are both predicted exactly."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self, input_ids, attention_mask, start_positions, end_positions, token_type_ids=None
    ) -> dict[str, Any]:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        n = int(input_ids.shape[0])
        total = span_loss(out.start_logits, out.end_logits, attention_mask, start_positions, end_positions)
        with torch.no_grad():
            hit = (out.start_logits.argmax(-1) == start_positions) & (
                out.end_logits.argmax(-1) == end_positions
            )
        loss = total / max(n, 1)
        return {"loss": loss, "loss_sum": float(total.detach()), "count": n, "correct": hit.sum()}
