"""Where tensors go: the one placement rule of every forward pass rawtune makes. Batches are built
on the CPU (collators, batch streams); the model lives where the Accelerator put it (a GPU, the
CPU, a meta device in tests). Every batch crosses over here, just before the model sees it — the
training step and the in-training evaluation (train/loop.py, train/evaluate.py), inference over
features (tasks/features.forward_batches), the EWC Fisher pass — so no caller has to remember."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither
    (an ONNX model behind the torch interface)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def to_device(batch: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The batch's tensors on `device` (other values as they are). Copies to a GPU are issued
    without blocking the host, so the copy of the next batch overlaps the work on this one."""
    device = torch.device(device)
    non_blocking = device.type == "cuda"
    return {
        k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


class DeviceSums:
    """The loss sum, units and correct count of a run of forward passes, added up where the model
    computed them: adding one never waits for the device. Sums of tensors stay tensors (the loss
    sum in float64, as the host would add it); `read_sums` brings them over at once."""

    def __init__(self) -> None:
        self.loss_sum: Any = 0.0
        self.units: Any = 0
        self.correct: Any = 0
        self.has_correct = False

    def add(self, out: Mapping[str, Any]) -> None:
        """One output of the loop's loss modules (train/objectives.py: loss_sum, count, correct)."""
        loss_sum = out["loss_sum"]
        if isinstance(loss_sum, torch.Tensor):
            loss_sum = loss_sum.detach().to(torch.float64)
        self.loss_sum = self.loss_sum + loss_sum
        self.units = self.units + _detached(out["count"])
        if out.get("correct") is not None:
            self.has_correct = True
            self.correct = self.correct + _detached(out["correct"])

    def values(self) -> list[Any]:
        return [self.loss_sum, self.units, self.correct]


def read_sums(accelerator: Any, summed: list[Any], local: list[Any] = ()) -> tuple[list[float], list[float]]:
    """`summed` (scalars) added up over every process, and `local` (scalars or tensors, flattened)
    as this process has them, as Python floats: one wait for the device, one all-reduce when there
    are several processes (on the Accelerator's device, where its collectives run)."""
    world = accelerator.num_processes
    device = accelerator.device if world > 1 else _home([*summed, *local])
    totals = torch.cat([_f64(x, device) for x in summed])
    if world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    values = torch.cat([totals, *(_f64(x, device) for x in local)]).tolist()
    return values[: len(summed)], values[len(summed) :]


def _detached(x: Any) -> Any:
    return x.detach() if isinstance(x, torch.Tensor) else x


def _home(values: list[Any]) -> torch.device:
    """Where the tensors among `values` are (the model's device), else the CPU."""
    return next((v.device for v in values if isinstance(v, torch.Tensor)), torch.device("cpu"))


def _f64(x: Any, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if hasattr(x, "full_tensor"):  # a DTensor (FSDP2's gradient norm): its full value
            x = x.full_tensor()
        return x.detach().to(device=device, dtype=torch.float64).reshape(-1)
    return torch.tensor([float(x)], dtype=torch.float64, device=device)
