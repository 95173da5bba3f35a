"""Relation extraction encoding and the head over the entity-start markers.

An example's text gets its markers inserted around the two mentions (`[E1:PER] Ada Lovelace
[/E1:PER] was born in [E2:LOC] London [/E2:LOC] .`) and is tokenized once; the markers are special
tokens, so each is one token. The representation of the pair is the "entity start" one of Baldini
Soares et al. (2019): the final hidden states at the [E1...] and [E2...] start markers,
concatenated, then a linear layer.

That linear layer is a plain `AutoModelForTokenClassification` head with 2 x L outputs for L
relations: rows 0..L-1 are read at the head's start marker and rows L..2L-1 at the tail's, and a
relation's logit is their sum, W1·h_E1 + W2·h_E2 + b — exactly a linear layer over [h_E1; h_E2].
So the saved model loads with `AutoModelForTokenClassification.from_pretrained`, and PEFT
(`TOKEN_CLS`), merging, pruning and quantization treat it as any token classifier.

Long inputs: a window of `max_length` tokens is cut around the span from the first marker to the
last (centred, the rest of the sentence as context). A pair whose markers alone do not fit is an
error naming its file and line (a marker is never cut), or is skipped when `skip_long` (the
pipeline's far-apart candidate pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rawtune.errors import DataError
from rawtune.tasks.features import PadCollator, special_tokens
from rawtune.tasks.relation_markers import MarkerSet


def marked_text(ex: Any, markers: MarkerSet) -> str:
    """The example's text with its four markers inserted (spaces around each)."""
    (h_open, h_close), (t_open, t_close) = markers.pick("E1", ex.head.type), markers.pick("E2", ex.tail.type)
    inserts = [
        (ex.head.start, 1, h_open + " "),
        (ex.head.end, 0, " " + h_close),
        (ex.tail.start, 1, t_open + " "),
        (ex.tail.end, 0, " " + t_close),
    ]  # at one position a closing marker goes before an opening one
    out, at = [], 0
    for pos, _, text in sorted(inserts):
        out += [ex.text[at:pos], text]
        at = pos
    out.append(ex.text[at:])
    return "".join(out)


def _window(n: int, lo: int, hi: int, size: int) -> tuple[int, int]:
    """[a, b) of at most `size` items of range(n) holding [lo, hi), centred on it."""
    if n <= size:
        return 0, n
    a = max(0, lo - (size - (hi - lo)) // 2)
    b = min(n, a + size)
    return max(0, b - size), b


def encode_pairs(
    tokenizer: Any,
    examples: Sequence[Any],
    markers: MarkerSet,
    *,
    max_length: int,
    label2id: dict[str, int] | None,
    skip_long: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """One feature per example (`input_ids`, `head_pos`, `tail_pos`, `example`, with `label2id` the
    `labels`), and how many inputs were cut to a window around their markers."""
    if not examples:
        return [], 0
    pre, post = special_tokens(tokenizer)
    room = max_length - len(pre) - len(post)
    enc = tokenizer([marked_text(ex, markers) for ex in examples], add_special_tokens=False)
    starts = {r: markers.start_ids(r) for r in ("E1", "E2")}
    all_ids = markers.ids()
    features, cut = [], 0
    for i, ids in enumerate(enc["input_ids"]):
        ex = examples[i]
        at = [p for p, t in enumerate(ids) if t in all_ids]
        if len(at) != 4:  # the text itself spelled a marker
            raise DataError(
                f"the text contains an entity marker string ({len(at) - 4} besides the four inserted); "
                "markers look like [E1] or [/E2:PER]",
                file=ex.file,
                line=ex.line,
                field="text",
            )
        lo, hi = at[0], at[-1] + 1
        if hi - lo > room:
            if skip_long:
                continue
            raise DataError(
                f"the two mentions and what lies between them take {hi - lo} tokens with their "
                f"markers, more than the {room} that fit in data.max_length={max_length}; raise "
                "--data.max_length (a marker is never cut)",
                file=ex.file,
                line=ex.line,
                field="head",
            )
        a, b = _window(len(ids), lo, hi, room)
        cut += (a, b) != (0, len(ids))
        window = pre + ids[a:b] + post
        shift = len(pre) - a
        head = next(p for p in at if ids[p] in starts["E1"]) + shift
        tail = next(p for p in at if ids[p] in starts["E2"]) + shift
        feat: dict[str, Any] = {"input_ids": window, "head_pos": head, "tail_pos": tail, "example": i}
        if "token_type_ids" in enc:
            feat["token_type_ids"] = [0] * len(window)
        if label2id is not None:
            feat["labels"] = label2id[ex.label]
        features.append(feat)
    return features, cut


class RelationCollator:
    """Padded inputs (`PadCollator`), the labels, and with `positions` the marker positions the
    training module reads (inference leaves them out: the model takes only its inputs, and the
    decoder reads positions from the features)."""

    def __init__(self, pad_id: int, positions: bool = True):
        self.pad, self.positions = PadCollator(pad_id, "single"), positions

    def __call__(self, samples: list[dict[str, Any]], *_: Any) -> dict[str, torch.Tensor]:
        batch = self.pad(samples)
        if self.positions:
            for key in ("head_pos", "tail_pos"):
                batch[key] = torch.tensor([s[key] for s in samples], dtype=torch.int64)
        return batch


def pair_logits(token_logits: torch.Tensor, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
    """(batch, L) relation logits from (batch, length, 2L) token logits: the first L outputs at the
    head's start marker plus the last L at the tail's."""
    n = token_logits.shape[-1] // 2
    rows = torch.arange(token_logits.shape[0], device=token_logits.device)
    return token_logits[rows, head, :n] + token_logits[rows, tail, n:]


class RelationLoss(nn.Module):
    """What `train.fit` trains: cross-entropy of the pair logits, one unit per example."""

    def __init__(self, model: nn.Module, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.model = model
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, input_ids, attention_mask, head_pos, tail_pos, labels, token_type_ids=None) -> dict:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        logits = pair_logits(out.logits.float(), head_pos, tail_pos)
        total = F.cross_entropy(logits, labels, weight=self.class_weights, reduction="sum")
        n = int(labels.shape[0])
        norm = self.class_weights[labels].sum().clamp_min(1e-12) if self.class_weights is not None else n
        loss = total / norm
        return {
            "loss": loss,
            "loss_sum": float(loss.detach()) * n,
            "count": n,
            "correct": (logits.detach().argmax(-1) == labels).sum(),
        }


class PairDecoder:
    """Relation probabilities per example (L floats each) and the loss sum, batch by batch."""

    def __init__(self, features: Sequence[dict[str, Any]], n_examples: int, n_labels: int):
        self.features = features
        self.probs = np.full((n_examples, n_labels), np.nan, dtype=np.float64)  # NaN: skipped (too long)
        self.loss_sum, self.count = 0.0, 0

    def __call__(self, idx: list[int], batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        head = torch.tensor([self.features[i]["head_pos"] for i in idx], device=logits.device)
        tail = torch.tensor([self.features[i]["tail_pos"] for i in idx], device=logits.device)
        z = pair_logits(logits, head, tail)
        if "labels" in batch:
            self.loss_sum += float(F.cross_entropy(z, batch["labels"].to(z.device), reduction="sum"))
            self.count += len(idx)
        p = z.softmax(-1).cpu().numpy()
        for row, i in enumerate(idx):
            self.probs[self.features[i]["example"]] = p[row]

    def loss(self) -> float | None:
        return self.loss_sum / self.count if self.count else None
