"""The contract of a labeled task, and its registry. A task reads its files, owns the label space,
encodes examples into model inputs, wraps the model for training, and decodes predictions for
evaluation, `rawtune predict` and serving: one decode path everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from rawtune.registry import Registry


@dataclass
class Inference:
    """How to run a model for evaluation/prediction (device and precision come from the caller)."""

    batch_size: int = 32
    autocast: Callable[[], Any] | None = None
    progress: Callable[[int], None] | None = None


class LabeledTask(Protocol):
    name: str
    auto_class_name: str  # transformers AutoModelFor* class name
    primary: tuple[str, bool]  # validation metric that picks the best model, greater is better

    def read(self, path: str, *, labeled: bool = True) -> Any: ...

    def label_space(self, train: Any) -> Any: ...

    def check_labels(self, space: Any, data: Any, split: str) -> None: ...

    def head_config(self, space: Any) -> dict[str, Any]: ...

    def train_features(self, tokenizer: Any, data: Any, space: Any) -> list[dict[str, Any]]: ...

    def collator(self, tokenizer: Any) -> Callable[..., dict[str, torch.Tensor]]: ...

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module: ...

    def evaluate(
        self, model: nn.Module, tokenizer: Any, data: Any, space: Any, run: Inference
    ) -> dict[str, Any]: ...

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> list[dict[str, Any]]: ...


# each module registers its tasks (`@TASKS.register("ner")`); the first lookup imports them all
TASKS: Registry[Callable[..., LabeledTask]] = Registry(
    "task",
    members=(
        "rawtune.tasks.causal",
        "rawtune.tasks.classify",
        "rawtune.tasks.ner",
        "rawtune.tasks.qa",
        "rawtune.tasks.relations",
        "rawtune.tasks.seq2seq",
    ),
)


def get_task(cfg: Any) -> LabeledTask:
    """The task of a FinetuneConfig."""
    return TASKS.get(cfg.task.name)(cfg)
