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
    return _declared(TASKS.get(cfg.task.name)(cfg))


def _declared(task: Any) -> Any:
    """TRANSITIONAL (issue 22, skeleton branch): the capabilities the contract branch declares on
    every task with defaults in a base class (report_kind, prepare_tokenizer, build_model,
    configure_model, marker_ids, window_batch, generative), filled in where a task lacks them, so
    callers use the declared names now. Delete when the contract branch merges."""
    import inspect

    if not hasattr(task, "report_kind"):
        named = task.name in ("ner", "qa", "relations", "seq2seq", "causal")
        kinds = {"single": "classification", "multi": "multilabel", "regression": "regression"}
        task.report_kind = task.name if named else kinds[task.kind]
    defaults = {
        "prepare_tokenizer": lambda tokenizer, train: tokenizer,
        "build_model": lambda src, tokenizer, cfg, space: None,
        "configure_model": lambda model, tokenizer, space: model,
        "marker_ids": lambda tokenizer: None,
        "window_batch": lambda features, batch_size: batch_size,
    }
    for name, default in defaults.items():
        if not hasattr(task, name):
            setattr(task, name, default)
    own = task.build_model
    if len(inspect.signature(own).parameters) == 2:  # generation: build_model(src, tokenizer)
        task.build_model = lambda src, tokenizer, cfg, space: own(src, tokenizer)
    if not hasattr(task, "generative"):
        task.generative = False
    return task
