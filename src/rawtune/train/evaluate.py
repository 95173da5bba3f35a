"""Evaluation inside training: sums over batches (never accumulating logits), then exact means."""

from __future__ import annotations

from typing import Any

import torch

from rawtune.data.batching import BatchStream


@torch.no_grad()
def evaluate_module(
    module: torch.nn.Module, stream: BatchStream, n_batches: int, accelerator
) -> dict[str, Any]:
    was_training = module.training
    module.eval()
    loss_sum, count, correct, has_correct = 0.0, 0, 0, False
    try:
        batches = stream.iterate(0, accelerator.process_index, accelerator.num_processes)
        for _ in range(accelerator.process_index, n_batches, accelerator.num_processes):
            mb = next(batches)
            with accelerator.autocast():
                out = module(**mb.tensors)
            loss_sum += float(out["loss_sum"])
            count += int(out["count"])
            if out.get("correct") is not None:
                has_correct = True
                correct += int(out["correct"])
    finally:
        module.train(was_training)
    if accelerator.num_processes > 1:
        t = accelerator.reduce(
            torch.tensor([loss_sum, count, correct], dtype=torch.float64, device=accelerator.device),
            reduction="sum",
        )
        loss_sum, count, correct = float(t[0]), int(t[1]), int(t[2])
    metrics: dict[str, Any] = {"loss": loss_sum / max(count, 1), "count": count}
    if has_correct:
        metrics["accuracy"] = correct / max(count, 1)
    return metrics
