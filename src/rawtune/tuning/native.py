"""The adapter of a method rawtune implements itself (bitfit, bottleneck adapters, prefix tuning): the
method changes the model in place, and its adapter is the state of the parameters that train (the
head included). Saved as one safetensors file; loaded by applying the same method, with the same
options, to the base model and putting those parameters back."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rawtune.errors import ModelError

WEIGHTS = "adapter_model.safetensors"


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save(model: nn.Module, directory: Path) -> None:
    from safetensors.torch import save_file

    save_file({n: t.cpu() for n, t in trainable_state(model).items()}, str(directory / WEIGHTS))


def load(model: nn.Module, directory: Path) -> nn.Module:
    """Put the saved trainable parameters into `model` (the base with the method applied); refused,
    naming the keys, when the file does not hold exactly the parameters the method trains."""
    from safetensors.torch import load_file

    path = directory / WEIGHTS
    state = load_file(str(path))
    expected = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = [n for n in set(state) & set(expected) if state[n].shape != expected[n].shape]
    if missing or unexpected or shapes:
        problems = [
            f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("shape differs", shapes))
            if names
        ]
        raise ModelError(f"{path} does not fit the model it is loaded onto ({'; '.join(problems)})")
    with torch.no_grad():
        for name, tensor in state.items():
            expected[name].copy_(tensor)
    return model
