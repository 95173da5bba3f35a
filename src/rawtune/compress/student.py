"""The student of a distillation: the teacher with fewer layers (initialised from the teacher's own
layers, as DistilBERT was from BERT), or any smaller backbone with a new head.

A student made from the teacher's layers is a deep copy with the layer list cut down, so every other
weight (embeddings, pooler, task head) starts as the teacher's; its config says the new depth, so
`save_pretrained` / `AutoModel*.from_pretrained` treat it as an ordinary, shallower model."""

from __future__ import annotations

import copy
import logging
from typing import Any

from torch import nn

from rawtune.errors import ModelError
from rawtune.modeling.heads import transformer_layers

log = logging.getLogger("rawtune")


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


def build_student(cfg: Any, parent: Any) -> tuple[nn.Module, list[int], dict[str, Any]]:
    """The student model, the teacher layer each student layer is matched to, and its record."""
    import torch

    from rawtune.errors import ConfigError, ConfigIssue
    from rawtune.tuning.io import plain_model as hf_model

    d = cfg.distill
    teacher = parent.model
    if d.student is None:
        source = teacher if plain_model(teacher) else _adapter_base(parent, cfg.seed)
        n = d.student_layers or max(1, layer_count(source) // 2)
        student, keep = student_from_teacher(source, n, d.layers)
        for p in student.parameters():
            p.requires_grad_(True)
        return student, keep, {"from": "teacher layers", **describe(student, keep)}
    from rawtune.data.tokenization import tokenizer_fingerprint
    from rawtune.modeling.backbone import load_tokenizer, resolve
    from rawtune.modeling.heads import build_task_model

    src = resolve(d.student)
    if tokenizer_fingerprint(load_tokenizer(src.ref)) != tokenizer_fingerprint(parent.tokenizer):
        raise ConfigError(
            [
                ConfigIssue(
                    "distill.student",
                    f"{d.student} tokenizes differently from the teacher; the student learns the "
                    "teacher's predictions token by token, so it needs the teacher's tokenizer",
                )
            ]
        )
    torch.manual_seed(cfg.seed)  # the new head's initialisation
    head = parent.task.head_config(parent.space)
    model_cfg = parent.cfg.model.model_copy(update={"name_or_path": d.student})
    student = build_task_model(model_cfg, src, parent.task.auto_class_name, head, parent.space)
    s_layers = layer_count(student)
    t_layers = layer_count(hf_model(teacher))
    layer_map = list(d.layers) if d.layers is not None else default_map(t_layers, s_layers)
    if len(layer_map) != s_layers or not all(0 <= j < t_layers for j in layer_map):
        raise ConfigError(
            [
                ConfigIssue(
                    "distill.layers", f"needs {s_layers} teacher layers in 0..{t_layers - 1}, got {layer_map}"
                )
            ]
        )
    return student, layer_map, {"from": d.student, **describe(student, None), "matched_to": layer_map}


def _adapter_base(parent: Any, seed: int) -> nn.Module:
    """For a teacher that is a base model plus an adapter (prompt, prefix, bottleneck), the student
    starts from the base model's layers with a new head: the adapter cannot be cut into layers."""
    import json
    from pathlib import Path

    import torch

    from rawtune.artifacts.pretrained import load_task_model

    meta_path = Path(parent.run_path) / "adapter" / "rawtune_adapter.json"
    peft_path = Path(parent.run_path) / "adapter" / "adapter_config.json"
    if meta_path.is_file():
        base = json.loads(meta_path.read_text()).get("base", {}).get("ref")
    elif peft_path.is_file():
        base = json.loads(peft_path.read_text()).get("base_model_name_or_path")
    else:
        base = None
    if not base:
        raise ModelError(f"{parent.run_path}: cannot find the base model of its adapter to build a student")
    log.info(
        "the teacher carries an adapter; the student starts from the base model %s with a new head", base
    )
    torch.manual_seed(seed)  # the new head's initialisation
    return load_task_model(base, parent.task.auto_class_name, **parent.task.head_config(parent.space))
