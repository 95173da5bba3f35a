"""`seq2seq`'s training parts: the teacher-forced token loss and the collator that pads sources and
targets (the task is `seq2seq.py`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rawtune.tasks.features import IGNORE


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Cross-entropy summed over the labelled tokens, their mean (to backpropagate), count and the
    tokens predicted right: the loop's contract (train/objectives.py)."""
    selected = labels != IGNORE
    logits, target = logits[selected].float(), labels[selected]
    loss_sum = F.cross_entropy(logits, target, reduction="sum")
    count = int(target.numel())
    return {
        "loss": loss_sum / max(count, 1),
        "loss_sum": loss_sum.detach(),
        "count": count,
        "correct": (logits.detach().argmax(-1) == target).sum(),
    }


class Seq2SeqLoss(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels) -> dict[str, Any]:
        # the model shifts the labels into decoder inputs (decoder_start_token_id first, -100 -> pad)
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).logits
        return token_loss(logits, labels)


class Seq2SeqCollator:
    """Sources padded with the pad token, targets with -100, each to its own longest length rounded
    up to a multiple of 8 (what `DataCollatorForSeq2Seq(pad_to_multiple_of=8)` does)."""

    def __init__(self, pad: int):
        self.pad = pad

    @staticmethod
    def _pad(rows: list[list[int]], value: int) -> np.ndarray:
        width = math.ceil(max(len(r) for r in rows) / 8) * 8
        out = np.full((len(rows), width), value, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    def __call__(self, samples: list[dict[str, Any]], *_: Any) -> dict[str, torch.Tensor]:
        ids = self._pad([s["input_ids"] for s in samples], self.pad)
        mask = self._pad([[1] * len(s["input_ids"]) for s in samples], 0)
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if "labels" in samples[0]:
            batch["labels"] = torch.from_numpy(self._pad([s["labels"] for s in samples], IGNORE))
        return batch
