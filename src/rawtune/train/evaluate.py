"""Evaluation inside training: sums over batches (never accumulating logits), then exact means.
Each batch is placed on the model's device (train/devices.py) and the sums stay there until the
end: one wait for the device per evaluation, not one per batch."""

from __future__ import annotations

from typing import Any

import torch

from rawtune.data.batching import BatchStream
from rawtune.train.devices import DeviceSums, read_sums, to_device


@torch.no_grad()
def evaluate_module(
    module: torch.nn.Module, stream: BatchStream, n_batches: int, accelerator
) -> dict[str, Any]:
    was_training = module.training
    module.eval()
    sums = DeviceSums()
    try:
        batches = stream.iterate(0, accelerator.process_index, accelerator.num_processes)
        for _ in range(accelerator.process_index, n_batches, accelerator.num_processes):
            mb = next(batches)
            with accelerator.autocast():
                out = module(**to_device(mb.tensors, accelerator.device))
            sums.add(out)
    finally:
        module.train(was_training)
    (loss_sum, count, correct), _ = read_sums(accelerator, sums.values())
    count = int(count)
    metrics: dict[str, Any] = {"loss": loss_sum / max(count, 1), "count": count}
    if sums.has_correct:
        metrics["accuracy"] = int(correct) / max(count, 1)
    return metrics
