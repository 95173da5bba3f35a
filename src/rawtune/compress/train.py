"""The compress methods that train: distillation into a smaller student, and pruning with optional
recovery fine-tuning. Both train a `train.run.Training` in the compress run (the loop finetune uses:
checkpoints, the best model by the dev metric, exact `--resume`), save RUN/model/ through the run
skeleton's atomic save, and return (the model, what it adds to metrics.json)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rawtune.compress.methods import COMPRESSORS, Compressor
from rawtune.config.schema import CompressConfig
from rawtune.errors import ConfigError, ConfigIssue, DataError, ModelError
from rawtune.train.run import Training, Writer, save
from rawtune.tuning.io import plain_model as hf_model

log = logging.getLogger("rawtune")


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


def _save_plain(model: nn.Module, tokenizer: Any) -> Writer:
    def write(d: Path) -> None:
        model.save_pretrained(str(d))
        tokenizer.save_pretrained(str(d))

    return write


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

    from rawtune.config.identity import config_fingerprint
    from rawtune.data.batching import feature_batches
    from rawtune.tasks.base import Inference
    from rawtune.train.accelerator import make_accelerator

    train_cfg = cfg.train if epochs is None else cfg.train.model_copy(update={"epochs": epochs})
    accelerator = make_accelerator(train_cfg)
    lengths = [len(f["input_ids"]) for f in features]
    stream = feature_batches(features, train_cfg.batch_size, collate, cfg.seed, lengths)
    inference = Inference(batch_size=max(32, train_cfg.batch_size * 2), autocast=accelerator.autocast)

    def evaluate(m: nn.Module) -> dict[str, Any]:
        model = accelerator.unwrap_model(m).model
        return parent.task.evaluate(model, parent.tokenizer, dev, parent.space, inference)

    data_hash = hashlib.sha256(repr([f["input_ids"] for f in features]).encode()).hexdigest()[:16]
    fingerprint = {"config": config_fingerprint(cfg), "data": data_hash}
    training = Training(
        module, stream, train_cfg, cfg.seed, fingerprint, evaluate, parent.task.primary, callbacks
    )
    result = training.fit(run, accelerator, resume)
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
def distill(cfg: CompressConfig, parent: Any, dev: Any, run: Any, resume: bool) -> tuple[nn.Module, dict]:
    from rawtune.compress.distill import DistillCollator, DistillLoss, raw_features, read_raw_text
    from rawtune.compress.student import build_student, layer_count

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
    student, layer_map, record = build_student(cfg, parent)
    if d.attention_weight > 0:
        for m in (student, parent.model):
            m.set_attn_implementation("eager")  # attention maps are returned by the eager kernel only
    log.info(
        "distilling %s (%d layers) into a %d-layer student (%s parameters) on %d labeled and %d raw-text "
        "examples; T=%g, alpha=%g",
        parent.run_path,
        layer_count(hf_model(parent.model)),
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
    save(run, {"model": _save_plain(student, tokenizer)})
    return student, {"student": record, "training": {**summary, **counts}}


# --- pruning ------------------------------------------------------------------------------------------
def prune(cfg: CompressConfig, parent: Any, dev: Any, run: Any, resume: bool) -> tuple[nn.Module, dict]:
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
    before = P.structure(model)
    schedule, structured = _cut(cfg, specs, model, loss_module, _importance_batches(cfg, features, collate))
    loss_module.model = model
    extra: dict[str, Any] = {"pruning": {"spec": cfg.prune.spec, "before": before}}
    if cfg.prune.recover_epochs > 0:
        callbacks = []
        if schedule is not None:
            amount, how = schedule
            callbacks.append(P.MagnitudeSchedule.for_training(model, amount, how, cfg.prune.scope))
        epochs = cfg.prune.recover_epochs
        extra["training"] = _fit(
            cfg, parent, loss_module, features, collate, dev, run, resume, epochs=epochs, callbacks=callbacks
        )
    elif resume:
        log.info("nothing to resume in a pruning run without recovery training; pruning again")
    extra["pruning"]["after"] = P.structure(model)
    extra["pruning"]["sparsity"] = P.sparsity_report(model)
    model.eval()
    if structured:
        save(run, {"model": lambda d: P.save_pruned(model, d, tokenizer, task.auto_class_name)})
    else:
        save(run, {"model": _save_plain(model, tokenizer)})
    return model, extra


def _importance_batches(cfg: CompressConfig, features: list[dict[str, Any]], collate: Any) -> list[Any]:
    """The seeded batches of training data the importance of heads, FFN units and layers is
    measured on (prune.importance_batches of them)."""
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(features), generator=g).tolist()
    bs = cfg.train.batch_size
    return [
        collate([features[i] for i in order[k : k + bs]])
        for k in range(0, min(len(order), bs * cfg.prune.importance_batches), bs)
    ]


def _cut(
    cfg: CompressConfig, specs: list[Any], model: nn.Module, loss_module: nn.Module, batches: list[Any]
) -> tuple[tuple[float, str] | None, bool]:
    """Apply the prune spec to `model`, in order: structured cuts (heads, ffn, layers) by measured
    importance, magnitude masks at once (or, with recovery training, a schedule to reach them).
    Returns (the magnitude schedule, whether any structured cut was made)."""
    from rawtune.compress import prune as P

    def loss_fn(m: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss_module.model = m
        return loss_module(**batch)["loss"]

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
    return schedule, structured


COMPRESSORS.register("distill")(
    Compressor(distill, lambda cfg: {"distill": cfg.distill.model_dump(mode="json")})
)
COMPRESSORS.register("prune")(Compressor(prune, lambda cfg: {"prune": cfg.prune.model_dump(mode="json")}))
