"""The student of a distillation: the teacher with fewer layers (initialised from the teacher's own
layers, as DistilBERT was from BERT), or any smaller backbone with a new head.

A student made from the teacher's layers is a deep copy with the layer list cut down, so every other
weight (embeddings, pooler, task head) starts as the teacher's; its config says the new depth, so
`save_pretrained` / `AutoModel*.from_pretrained` treat it as an ordinary, shallower model."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from rawtune.errors import ModelError
from rawtune.modeling.heads import transformer_layers


def spread(teacher_layers: int, student_layers: int) -> list[int]:
    """`student_layers` teacher layers evenly spaced with the first and the last kept: the first sees
    the embeddings it was trained on and the last feeds the task head it was trained with
    (6 -> 3: [0, 3, 5]; 12 -> 6: [0, 2, 4, 7, 9, 11])."""
    if not 1 <= student_layers <= teacher_layers:
        raise ModelError(
            f"a student needs 1 to {teacher_layers} layers (the teacher's), not {student_layers}"
        )
    if student_layers == 1:
        return [teacher_layers - 1]
    step = (teacher_layers - 1) / (student_layers - 1)
    return [int(i * step + 0.5) for i in range(student_layers)]


def keep_layers(model: nn.Module, keep: list[int]) -> nn.Module:
    """A copy of `model` with only the transformer layers `keep` (in that order), config updated."""
    base = getattr(model, "base_model", model)
    layers = transformer_layers(base)
    bad = [i for i in keep if not 0 <= i < len(layers)]
    if bad or not keep or len(set(keep)) != len(keep):
        raise ModelError(f"teacher layers {keep} are not distinct layers of a {len(layers)}-layer model")
    student = copy.deepcopy(model)
    old = transformer_layers(getattr(student, "base_model", student))
    new = nn.ModuleList([old[i] for i in keep])
    for idx, layer in enumerate(new):  # caches and some attention kernels index layers by position
        for m in layer.modules():
            if isinstance(getattr(m, "layer_idx", None), int):
                m.layer_idx = idx
    _replace_module(getattr(student, "base_model", student), old, new)
    student.config.num_hidden_layers = len(keep)
    if getattr(student.config, "layer_types", None) is not None:
        student.config.layer_types = [student.config.layer_types[i] for i in keep]
    return student


def _replace_module(root: nn.Module, old: nn.Module, new: nn.Module) -> None:
    for m in root.modules():
        for child_name, child in m.named_children():
            if child is old:
                setattr(m, child_name, new)
                return
    raise ModelError(f"{type(root).__name__}: cannot replace its layer list")


def layer_count(model: nn.Module) -> int:
    return len(transformer_layers(getattr(model, "base_model", model)))


def student_from_teacher(
    teacher: nn.Module, n_layers: int, layers: list[int] | None = None
) -> tuple[nn.Module, list[int]]:
    """The teacher cut to `n_layers` (its layers `layers`, default `spread`), and the layers kept."""
    total = layer_count(teacher)
    keep = list(layers) if layers is not None else spread(total, n_layers)
    if len(keep) >= total:
        raise ModelError(
            f"a {len(keep)}-layer student of a {total}-layer teacher is not smaller; ask for fewer layers"
        )
    return keep_layers(teacher, keep), keep


def plain_model(model: nn.Module) -> bool:
    """A transformers model with nothing rawtune or peft added (those cannot be cut into a student)."""
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel) or hasattr(model, "peft_config"):
        return False
    return not any(type(m).__module__.startswith("rawtune.") for m in model.modules())


def default_map(teacher_layers: int, student_layers: int) -> list[int]:
    """Which teacher layer each student layer's output is matched to (hidden/attention losses) for a
    student of another depth: the top of each of `student_layers` equal blocks (TinyBERT's mapping)."""
    return [(i + 1) * teacher_layers // student_layers - 1 for i in range(student_layers)]


def describe(student: Any, keep: list[int] | None) -> dict[str, Any]:
    params = sum(p.numel() for p in student.parameters())
    return {"layers": layer_count(student), "teacher_layers": keep, "parameters": params}
