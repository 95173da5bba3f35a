"""The bottleneck adapter's module (`bottleneck.py` is the method): down-project, ReLU, up-project,
with a residual connection, run by a forward hook on the projection it follows."""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    def __init__(self, hidden: int, size: int):
        super().__init__()
        self.down = nn.Linear(hidden, size)
        self.up = nn.Linear(size, hidden)
        nn.init.zeros_(self.up.weight)  # starts as the identity: training begins from the base model
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(torch.relu(self.down(x)))


def run_adapter(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return module.adapter(output)
