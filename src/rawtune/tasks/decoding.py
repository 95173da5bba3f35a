"""Batched inference of the generation tasks: the teacher-forced loss (the training module's own,
summed per batch) and `model.generate` over length-sorted batches. Only strings and sums outlive a
batch: no logits are kept across a dataset."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rawtune.tasks.base import Inference
from rawtune.tasks.features import length_batches


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    """Eval mode inside, every submodule's own mode restored after (a fresh loss wrapper is in
    training mode while the model it wraps may not be: `train(flag)` would flip the model)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@torch.no_grad()
def teacher_forced(
    module: torch.nn.Module,
    features: Sequence[dict[str, Any]],
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    run: Inference,
) -> dict[str, float]:
    """Mean loss over target tokens and token accuracy of a training module (labels given)."""
    loss_sum, count, correct = 0.0, 0, 0
    device = _device(module)
    with _eval_mode(module):
        for idx in length_batches(features, run.batch_size):
            batch = {k: v.to(device) for k, v in collate([features[i] for i in idx]).items()}
            with run.autocast() if run.autocast is not None else contextlib.nullcontext():
                out = module(**batch)
            loss_sum += float(out["loss_sum"])
            count += int(out["count"])
            correct += int(out.get("correct", 0))
    loss = loss_sum / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "token_accuracy": correct / max(count, 1)}


def pad_prompts(prompts: Sequence[list[int]], pad: int, *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids and attention_mask of token lists, padded on the right (encoder inputs) or on the
    left (decoder-only prompts: generation continues from the last column)."""
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, p in enumerate(prompts):
        cols = slice(width - len(p), width) if left else slice(0, len(p))
        ids[row, cols] = p
        mask[row, cols] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


@torch.no_grad()
def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    kwargs: dict[str, Any],
    run: Inference,
    *,
    left_pad: bool,
    seed: int | None = None,
) -> list[str]:
    """`model.generate(**kwargs)` for each prompt (token ids), decoded without special tokens, in
    the prompts' order. Decoder-only models (`left_pad`) get left-padded prompts and return only
    what follows them. `seed`: torch seed set for the pass (sampling), the caller's RNG untouched."""
    from rawtune.modeling.tokenizers import pad_id

    if not prompts:
        return []
    pad = pad_id(tokenizer)
    device = _device(model)
    out: list[str] = [""] * len(prompts)
    gen_kwargs = {"pad_token_id": pad, **kwargs}
    devices = [device] if device.type == "cuda" else []
    with _eval_mode(model), torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        features = [{"input_ids": p} for p in prompts]
        for idx in length_batches(features, run.batch_size):
            ids, mask = pad_prompts([prompts[i] for i in idx], pad, left=left_pad)
            ids, mask = ids.to(device), mask.to(device)
            with run.autocast() if run.autocast is not None else contextlib.nullcontext():
                seqs = model.generate(input_ids=ids, attention_mask=mask, **gen_kwargs)
            if left_pad:
                seqs = seqs[:, ids.shape[1] :]
            for i, text in zip(idx, tokenizer.batch_decode(seqs, skip_special_tokens=True)):
                out[i] = text.strip()
            if run.progress is not None:
                run.progress(len(idx))
    return out
