"""The inputs an ONNX export is checked on, and the comparison with PyTorch. The traced example and
the probes never share a shape, so a graph that fixed a batch size or a sequence length fails the
check instead of passing it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from rawtune.errors import ModelError, RawtuneError

EXPORT_SHAPE = (2, 16)  # batch, sequence of the traced example; the probes below never use it
PROBE_SHAPES = ((1, 9), (3, 27), (5, 40), (16, 64))  # the (3, ...) batch is text pairs
EXPORT_TEXTS = ["Maria Lopez met officials in Paris on Monday .", "The film was good"]
PROBE_TEXTS = [  # when the caller has none of its own (a run's dev data)
    "John Smith flew to Berlin with the Acme Corporation board last week .",
    "the service was awful and the meal was poor",
    "a",
    "Officials from the World Health Organization visited Lagos , Nairobi and Accra in a tour of "
    "clinics that lasted three weeks and covered more than forty towns .",
    "The book was excellent and lovely",
    "Anna Berg and Peter Olsen of Nordic Bank said on Tuesday that rates will stay low until May .",
    "the hotel was dull",
    "New York",
    "Shares of Redwood Capital fell 4 % in London after chief executive Victor Hale resigned .",
    "I would not stay there again : the rooms were small , noisy and overpriced .",
    "Tokyo",
    "The United Nations said aid convoys reached Aleppo and Homs on Sunday , ending a two-week wait .",
    "a lovely little film with a great cast",
    "Dr. Elena Petrova of Charité hospital in Berlin presented the results in Vienna .",
    "not bad , but not good either",
    "Real Madrid beat Bayern Munich 2-1 in the Champions League semi-final on Wednesday night .",
]


def encode(tokenizer: Any, names: list[str], length: int, texts: list[str], *, pairs: bool = False):
    """`texts` (pairs: consecutive texts paired) padded or truncated to exactly `length` tokens."""
    a, b = (texts[0::2], texts[1::2]) if pairs else (texts, None)
    enc = tokenizer(a, b, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
    out = {n: enc[n] for n in names if n in enc}
    if "token_type_ids" in names and "token_type_ids" not in out:
        out["token_type_ids"] = torch.zeros_like(out["input_ids"])
    return out


def probe_batches(
    tokenizer: Any, names: list[str], max_positions: int | None, texts: Sequence[str]
) -> list[dict[str, Any]]:
    """Fresh inputs at PROBE_SHAPES (lengths capped by the model's positions; none at EXPORT_SHAPE),
    taking `texts` in turn (from the start again when they run out)."""
    cap = (max_positions or 512) - 2
    out, at = [], 0
    for batch, length in PROBE_SHAPES:
        length = min(length, cap)
        if (batch, length) == EXPORT_SHAPE:
            length -= 1
        n = batch * (2 if batch == 3 else 1)
        chunk = [texts[(at + i) % len(texts)] for i in range(n)]
        at += n
        out.append(encode(tokenizer, names, length, chunk, pairs=batch == 3))
    return out


def compare(
    torch_model: nn.Module, onnx_model: nn.Module, batches: list[dict[str, Any]], per_token: bool
) -> dict[str, Any]:
    """Largest |logit difference| over the probe batches (`max_abs_diff`: every position, padding
    included; `max_abs_diff_real`: the positions a decoder reads, real tokens for token
    classification), and the share of argmax predictions that agree at those positions."""
    diff, real, agree, total = 0.0, 0.0, 0, 0
    for batch in batches:
        with torch.no_grad():
            ref = torch_model(**batch).logits.float()
        try:
            got = onnx_model(**batch).logits
        except Exception as e:  # onnxruntime refusing a shape the graph fixed, a missing input
            shape = tuple(batch["input_ids"].shape)
            raise ModelError(
                f"onnxruntime failed on inputs of shape {shape}: {type(e).__name__}: {e}"
            ) from None
        if got.shape != ref.shape:
            raise ModelError(f"ONNX logits have shape {tuple(got.shape)}, PyTorch's {tuple(ref.shape)}")
        gap, same = (got - ref).abs(), got.argmax(-1) == ref.argmax(-1)
        diff = max(diff, float(gap.max()))
        if per_token:
            gap, same = gap[batch["attention_mask"].bool()], same[batch["attention_mask"].bool()]
        real = max(real, float(gap.max()))
        agree, total = agree + int(same.sum()), total + same.numel()
    return {
        "max_abs_diff": {"logits": diff},
        "max_abs_diff_real": {"logits": real},
        "argmax_agreement": agree / total,
        "compared": total,
        "shapes": [list(b["input_ids"].shape) for b in batches],
    }


def example_texts(examples: Sequence[Any]) -> list[str]:
    """Labeled examples as the texts an exported model is probed with (NER: the words joined by spaces)."""
    return [" ".join(ex.tokens) if hasattr(ex, "tokens") else ex.text for ex in examples]


def dev_texts(task: Any, dev: str | None, limit: int = 64) -> list[str] | None:
    """Up to `limit` texts of a run's dev data, to probe the exported model with inputs like those it
    will see; None when the file is not there (any more)."""
    from pathlib import Path

    if not dev or not Path(dev).is_file():
        return None
    try:
        examples = task.read(dev).examples[:limit]
    except RawtuneError:
        return None
    return [t for t in example_texts(examples) if t.strip()] or None
