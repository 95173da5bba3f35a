"""Every random decision of augmentation is a pure function of (seed, example, copy): each copy
draws from its own `torch.Generator`, so a result depends neither on batch size nor on which other
examples are augmented with it."""

from __future__ import annotations

import hashlib


def copy_seed(seed: int, example: int, copy: int) -> int:
    digest = hashlib.blake2b(f"rawtune-augment/{seed}/{example}/{copy}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def copy_generator(seed: int, example: int, copy: int):
    import torch

    g = torch.Generator()
    g.manual_seed(copy_seed(seed, example, copy))
    return g


def uniform(g) -> float:
    import torch

    return float(torch.rand((), generator=g))


def randint(g, n: int) -> int:
    import torch

    return int(torch.randint(n, (), generator=g))
