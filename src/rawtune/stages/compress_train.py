"""The compress methods that train: distillation into a smaller student, and pruning with optional
recovery fine-tuning. Both go through `train.fit.fit` (the loop finetune uses: checkpoints, the best
model by the dev metric, exact `--resume`) and return (model, metrics to add, save(dir))."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rawtune.config.schema import CompressConfig
from rawtune.errors import ConfigError, ConfigIssue, DataError, ModelError

log = logging.getLogger("rawtune")
Saver = Callable[[Path], None]


def _kind(task: Any) -> str:
    from rawtune.compress.distill import TOKENS

    return TOKENS if task.name == "ner" else task.kind


def _train_data(cfg: CompressConfig, parent: Any, path: str | None, key: str) -> Any:
    path = path or parent.cfg.data.train
    if not path:
        raise ConfigError([ConfigIssue(key, "the parent run names no data.train; give a training file")])
    data = parent.task.read(str(path))
    if not data.examples:
        raise DataError("no examples", file=str(path))
    parent.task.check_labels(parent.space, data, "training data")
    return data


def _save_plain(model: nn.Module, tokenizer: Any) -> Saver:
    def save(d: Path) -> None:
        model.save_pretrained(str(d))
        tokenizer.save_pretrained(str(d))

    return save


def _fit(
    cfg: CompressConfig,
    parent: Any,
    module: nn.Module,
    features: list[dict[str, Any]],
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    dev: Any,
    run: Any,
    resume: bool,
    *,
    epochs: float | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train `module` (its `.model` is what is kept) with the one loop; the best model by the parent
    task's dev metric is restored at the end (`train.restore_best`). Returns a training summary."""
    import hashlib

    from rawtune.data.batching import ShuffledBatches
    from rawtune.stages.common import config_fingerprint, make_accelerator
    from rawtune.tasks.base import Inference
    from rawtune.train.fit import fit

    train_cfg = cfg.train if epochs is None else cfg.train.model_copy(update={"epochs": epochs})
    accelerator = make_accelerator(train_cfg)
    lengths = [len(f["input_ids"]) for f in features]
    stream = ShuffledBatches(
        features,
        train_cfg.batch_size,
        lambda samples, ids, epoch: collate(samples),
        cfg.seed,
        lengths=lengths,
    )
    inference = Inference(batch_size=max(32, train_cfg.batch_size * 2), autocast=accelerator.autocast)

    def evaluate(m: nn.Module) -> dict[str, Any]:
        model = accelerator.unwrap_model(m).model
        return parent.task.evaluate(model, parent.tokenizer, dev, parent.space, inference)

    data_hash = hashlib.sha256(repr([f["input_ids"] for f in features]).encode()).hexdigest()[:16]
    result = fit(
        module,
        stream,
        cfg=train_cfg,
        run=run,
        accelerator=accelerator,
        seed=cfg.seed,
        evaluate=evaluate,
        fingerprint={"config": config_fingerprint(cfg), "data": data_hash},
        resume=resume,
        select=parent.task.primary,
        callbacks=callbacks,
    )
    module.to("cpu")  # measured and saved on the CPU, next to the parent
    st = result.state
    metric = parent.task.primary[0]
    return {
        "examples": len(features),
        "steps": st["step"],
        "best_step": st["best_step"],
        "train_seconds": round(st["train_seconds"], 3),
        "resumed_from": result.resumed_from,
        "dev_before": (result.before or {}).get(metric),
    }


# --- distillation -----------------------------------------------------------------------------------
def _student(cfg: CompressConfig, parent: Any) -> tuple[nn.Module, list[int], dict[str, Any]]:
    """The student model, the teacher layer each student layer is matched to, and its record."""
    from rawtune.compress.student import default_map, describe, layer_count, plain_model, student_from_teacher
    from rawtune.export.onnx import _hf_model

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
    t_layers = layer_count(_hf_model(teacher))
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


def distill(
    cfg: CompressConfig, parent: Any, dev: Any, run: Any, resume: bool
) -> tuple[nn.Module, dict, Saver]:
    from rawtune.compress.distill import DistillCollator, DistillLoss, raw_features, read_raw_text
    from rawtune.compress.student import layer_count
    from rawtune.export.onnx import _hf_model

    d = cfg.distill
    task, tokenizer, space = parent.task, parent.tokenizer, parent.space
    features: list[dict[str, Any]] = []
    counts = {"labeled": 0, "raw_text": 0}
    train = None
    if d.labeled:
        train = _train_data(cfg, parent, d.train, "distill.train")
        features += task.train_features(tokenizer, train, space)
        counts["labeled"] = len(train.examples)
    if d.raw_text:
        raw = read_raw_text(d.raw_text, task, d.max_raw_examples)
        features += raw_features(task, tokenizer, raw)
        counts["raw_text"] = len(raw)
    student, layer_map, record = _student(cfg, parent)
    if d.attention_weight > 0:
        for m in (student, parent.model):
            m.set_attn_implementation("eager")  # attention maps are returned by the eager kernel only
    log.info(
        "distilling %s (%d layers) into a %d-layer student (%s parameters) on %d labeled and %d raw-text "
        "examples; T=%g, alpha=%g",
        parent.run_path,
        layer_count(_hf_model(parent.model)),
        record["layers"],
        f"{record['parameters']:,}",
        counts["labeled"],
        counts["raw_text"],
        d.temperature,
        d.alpha,
    )
    kind = _kind(task)
    hard = task.train_module(student, space, train if train is not None else dev)
    module = DistillLoss(
        student,
        parent.model,
        hard,
        kind,
        temperature=d.temperature,
        alpha=d.alpha if d.labeled else 1.0,
        hidden_weight=d.hidden_weight,
        attention_weight=d.attention_weight,
        layer_map=layer_map,
    )
    collate = DistillCollator(task.collator(tokenizer), kind, len(space.labels))
    summary = _fit(cfg, parent, module, features, collate, dev, run, resume)
    if d.attention_weight > 0:
        parent.model.set_attn_implementation("sdpa")
        student.set_attn_implementation("sdpa")
    return student, {"student": record, "training": {**summary, **counts}}, _save_plain(student, tokenizer)


# --- pruning ------------------------------------------------------------------------------------------
def prune(
    cfg: CompressConfig, parent: Any, dev: Any, run: Any, resume: bool
) -> tuple[nn.Module, dict, Saver]:
    from rawtune.compress import prune as P
    from rawtune.compress.student import plain_model

    task, tokenizer, space = parent.task, parent.tokenizer, parent.space
    if not plain_model(parent.model):
        raise ModelError(
            f"{parent.run_path} holds a base model plus an adapter; prune a whole model (a full, LoRA, "
            "IA3 or BitFit run, whose model/ is merged)"
        )
    specs = P.parse_prune_spec(cfg.prune.spec)
    train = _train_data(cfg, parent, None, "prune")
    features = task.train_features(tokenizer, train, space)
    collate = task.collator(tokenizer)
    model = copy.deepcopy(parent.model)
    for p in model.parameters():
        p.requires_grad_(True)
    loss_module = task.train_module(model, space, train)

    def loss_fn(m: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss_module.model = m
        return loss_module(**batch)["loss"]

    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(features), generator=g).tolist()
    bs = cfg.train.batch_size
    batches = [
        collate([features[i] for i in order[k : k + bs]])
        for k in range(0, min(len(order), bs * cfg.prune.importance_batches), bs)
    ]
    before = P.structure(model)
    schedule = None
    structured = False
    for kind, amount in specs:
        if kind == "magnitude":
            if cfg.prune.recover_epochs > 0:
                schedule = (amount, cfg.prune.schedule)
            else:
                P.apply_masks(model, P.magnitude_masks(model, amount, cfg.prune.scope))
            continue
        structured = True
        if kind == "heads":
            P.prune_heads(model, amount, P.head_importance(model, batches, loss_fn))
        elif kind == "ffn":
            P.prune_ffn(model, amount, P.ffn_importance(model, batches, loss_fn))
        elif kind == "layers":
            P.drop_layers(model, int(amount), P.layer_importance(model, batches, loss_fn))
        log.info(
            "pruned %s %g: %s parameters left",
            kind,
            amount,
            f"{sum(p.numel() for p in model.parameters()):,}",
        )
    loss_module.model = model
    extra: dict[str, Any] = {"pruning": {"spec": cfg.prune.spec, "before": before}}
    if cfg.prune.recover_epochs > 0:
        callbacks = []
        if schedule is not None:
            amount, how = schedule
            callbacks.append(P.MagnitudeSchedule.for_training(model, amount, how, cfg.prune.scope))
        extra["training"] = _fit(
            cfg,
            parent,
            loss_module,
            features,
            collate,
            dev,
            run,
            resume,
            epochs=cfg.prune.recover_epochs,
            callbacks=callbacks,
        )
    elif resume:
        log.info("nothing to resume in a pruning run without recovery training; pruning again")
    extra["pruning"]["after"] = P.structure(model)
    extra["pruning"]["sparsity"] = P.sparsity_report(model)
    model.eval()
    if structured:
        return model, extra, lambda d: P.save_pruned(model, d, tokenizer, task.auto_class_name)
    return model, extra, _save_plain(model, tokenizer)
