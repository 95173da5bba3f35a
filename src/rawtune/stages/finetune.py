"""`rawtune finetune`: a task head on a backbone (hub id, local dir, or a pretrain run), trained on a
small labeled set with the one loop; the best model by the dev metric is kept and reported."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawtune.config.loader import dump_config
from rawtune.config.schema import FinetuneConfig
from rawtune.errors import DataError
from rawtune.evaluation.datastats import data_statistics
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_json, write_text
from rawtune.runs.rundir import RunDir
from rawtune.stages.common import (
    coerce_config,
    config_fingerprint,
    create_run,
    log_into_run,
    make_accelerator,
    open_run,
    records_failure,
)

log = logging.getLogger("rawtune")


@dataclass
class Extension:
    """What a stage built on fine-tuning changes in it (`rawtune continual`, `rawtune hpo`); every
    hook is optional.
    `config` is the stage's own config: written to RUN/config.yaml and checked on --resume."""

    config: Any = None
    manifest: dict[str, Any] = field(default_factory=dict)
    space: Callable[[Any], Any] | None = None  # label space -> the one to train on
    train: Callable[[Any, Any], Any] | None = None  # (train data, space) -> training data
    build: Callable[[Any, Any, Any, Any], Any] | None = None  # (cfg, src, task, space) -> model
    module: Callable[[Any, Any], Any] | None = None  # (loss module, space) -> the module trained
    summary: Callable[[Any, Any], dict[str, Any]] | None = None  # (model, space) -> more metrics.json
    callbacks: list[Any] = field(default_factory=list)  # more train.callbacks (e.g. a pruning reporter)


def read_splits(task: Any, cfg: FinetuneConfig) -> tuple[dict[str, Any], Any]:
    """Every file read and checked before any model is built (bad data fails in seconds). Returns
    the splits (train cut to data.train_fraction / max_train_examples, then data.extra_train's
    weighted examples added) and the label space, which comes from the whole training set: a 1 %
    subset that happens to miss a rare type still trains and is evaluated on the task's labels."""
    splits = {"train": task.read(cfg.data.train)}
    for name in ("dev", "test"):
        path = getattr(cfg.data, name)
        if path:
            splits[name] = task.read(path)
    for data in splits.values():
        if not data.examples:
            raise DataError("no examples", file=data.file)
        repairs = getattr(data, "repairs", 0)
        if repairs:
            log.warning("%s: repaired %d tags (I-X starting an entity -> B-X)", data.file, repairs)
    try:
        space = task.label_space(splits["train"])
    except DataError as e:
        raise e.in_file(splits["train"].file) from None
    splits["train"] = _subset(splits["train"], cfg)
    if cfg.data.extra_train:
        from rawtune.data.weighted import with_extra_train

        splits["train"] = with_extra_train(task, splits["train"], cfg.data, space)
    return splits, space


def _subset(train: Any, cfg: FinetuneConfig) -> Any:
    """The training examples data.train_fraction and data.max_train_examples keep: a prefix of one
    seeded permutation, so that for a seed a smaller subset is contained in every larger one (a
    learning curve adds examples instead of drawing a new set at each point)."""
    import dataclasses
    import random

    n = len(train.examples)
    k = n
    if cfg.data.train_fraction is not None:
        k = max(1, round(n * cfg.data.train_fraction))
    if cfg.data.max_train_examples:
        k = min(k, cfg.data.max_train_examples)
    if k >= n:
        return train
    order = list(range(n))
    random.Random(cfg.seed).shuffle(order)
    keep = sorted(order[:k])
    log.info("using %d of %d training examples (data.train_fraction / max_train_examples)", k, n)
    return dataclasses.replace(train, examples=[train.examples[i] for i in keep])


def _data_fingerprint(splits: dict[str, Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    for name in sorted(splits):
        h.update(name.encode())
        for ex in splits[name].examples:
            h.update(repr(ex).encode())
    return h.hexdigest()[:16]


def run_finetune(config: Any, *, resume: bool = False, extension: Extension | None = None) -> RunDir:
    """Fine-tune one model. With `seeds`, see `run_finetune_seeds`."""
    import torch
    from transformers.utils import logging as hf_logging

    from rawtune.data.batching import ShuffledBatches
    from rawtune.data.tokenization import tokenizer_fingerprint
    from rawtune.modeling.backbone import Source, load_tokenizer, resolve
    from rawtune.modeling.heads import build_task_model
    from rawtune.tasks.base import Inference, get_task
    from rawtune.train.fit import fit
    from rawtune.tuning import apply as apply_tuning
    from rawtune.tuning.io import save_tuned

    cfg: FinetuneConfig = coerce_config("finetune", config)
    setup_logging()
    hf_logging.disable_progress_bar()
    ext = extension or Extension()
    task = get_task(cfg)
    accelerator = make_accelerator(cfg.train)
    run, done = open_run(ext.config or cfg, resume, accelerator)
    if done:
        log.info("%s is already complete; nothing to resume", run.path)
        return run
    splits, space = read_splits(task, cfg)
    data_fingerprint = _data_fingerprint(splits)  # of the input: augmentation is a function of the config
    augmentation = None
    if cfg.data.augment.factor:
        from rawtune.stages.augment import augment_training_data

        splits["train"], augmentation = augment_training_data(task, cfg, splits["train"])
    if ext.space is not None:
        space = ext.space(space)
    if ext.train is not None:
        splits["train"] = ext.train(splits["train"], space)
    for name in ("dev", "test"):
        if name in splits:
            task.check_labels(space, splits[name], name)
    if cfg.model.init == "scratch":  # a generation task (the config checks): a small model, own tokenizer
        src, tokenizer = Source("scratch", "scratch"), task.scratch_tokenizer(splits["train"])
    else:
        src = resolve(cfg.model.name_or_path)
        tokenizer = load_tokenizer(src.ref, cfg.model)
    if hasattr(task, "prepare_tokenizer"):  # relations: entity markers become special tokens
        tokenizer = task.prepare_tokenizer(tokenizer, splits["train"])
    torch.manual_seed(cfg.seed)  # the head's initialisation is a function of the seed
    if ext.build is not None:
        model = ext.build(cfg, src, task, space)
    elif hasattr(task, "build_model"):  # generation: the model's own LM head, no label head
        model = task.build_model(src, tokenizer)
    else:
        model = build_task_model(
            cfg.model, src, task.auto_class_name, task.head_config(space), space, reinit_head=cfg.reinit_head
        )
    if hasattr(task, "prepare_tokenizer"):
        _fit_vocabulary(model, tokenizer)
    if hasattr(task, "configure_model"):  # ner: word shapes, a CRF layer
        model = task.configure_model(model, tokenizer, space)
    added = task.marker_ids(tokenizer) if hasattr(task, "marker_ids") else None
    tuned = apply_tuning(model, cfg.tuning, base_ref=src.ref, max_length=cfg.data.max_length, tokens=added)
    model, counts = tuned.model, tuned.parameters
    fingerprint = {
        "config": config_fingerprint(cfg),
        "data": data_fingerprint,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    if not resume:
        create_run(
            accelerator,
            run.path,
            dump_config(ext.config or cfg),
            {
                "stage": getattr(ext.config, "stage", "finetune"),
                "task": task.name,
                "parent": src.parent_run,
                "model_source": {"ref": src.ref, "kind": src.kind},
                "fingerprints": fingerprint,
                "labels": list(space.labels),
                "data": {k: {"file": v.file, "examples": len(v.examples)} for k, v in splits.items()},
                "parameters": counts,
                "tuning": {"method": tuned.method, "base": tuned.base},
                **({"augmentation": augmentation} if augmentation else {}),
                **ext.manifest,
            },
        )
    log_into_run(run, accelerator)
    log.info(
        "%s: %d labels, %d train examples; training %s of %s parameters",
        task.name,
        len(space.labels),
        len(splits["train"].examples),
        f"{counts['trainable']:,}",
        f"{counts['total']:,}",
    )
    features = task.train_features(tokenizer, splits["train"], space)
    if not resume and accelerator.is_main_process:
        stats = data_statistics(splits, features, cfg.data.max_length)
        if augmentation:
            stats["train"]["augmentation"] = augmentation
        write_json(run.path / "data_stats.json", stats)
    lengths = [len(f["input_ids"]) for f in features] if cfg.data.group_by_length else None
    batch = cfg.train.batch_size
    if hasattr(task, "window_batch"):  # ner with document context: windows of several sentences
        batch = task.window_batch(features, batch)
    stream = ShuffledBatches(features, batch, _collate(task.collator(tokenizer)), cfg.seed, lengths=lengths)
    inference = Inference(batch_size=max(32, cfg.train.batch_size * 2), autocast=accelerator.autocast)

    def evaluate_on(data: Any):
        return lambda module: task.evaluate(
            accelerator.unwrap_model(module).model, tokenizer, data, space, inference
        )

    evaluate = evaluate_on(splits["dev"]) if "dev" in splits else None
    select = task.primary if cfg.train.metric_for_best is None else _select(cfg.train.metric_for_best)
    module = task.train_module(model, space, splits["train"])
    if ext.module is not None:
        module = ext.module(module, space)
    with records_failure(run, accelerator.is_main_process):
        result = fit(
            module,
            stream,
            cfg=cfg.train,
            run=run,
            accelerator=accelerator,
            seed=cfg.seed,
            evaluate=evaluate,
            fingerprint=fingerprint,
            resume=resume,
            select=select,
            callbacks=[*tuned.callbacks, *ext.callbacks],
        )
        final: dict[str, Any] = {}
        if "dev" in splits:
            final["dev"] = result.after
        if "test" in splits:
            final["test"] = evaluate_on(splits["test"])(module)
        extra = ext.summary(model, space) if ext.summary is not None else {}
        if accelerator.is_main_process:
            save_tuned(tuned, run.model_dir, run.adapter_dir, tokenizer, task.auto_class_name)
            _write_reports(run, task, splits, final, src.ref, result.state["best_step"])
    st = result.state
    summary = {
        "task": task.name,
        **final,
        "train": {
            "examples": len(splits["train"].examples),
            "features": len(features),
            "steps": st["step"],
            "total_steps": result.total_steps,
            "best_step": st["best_step"],
            "train_seconds": st["train_seconds"],
            "examples_per_s": _rate(st),
            "tokens_per_s": st["tokens_seen"] / st["train_seconds"] if st["train_seconds"] else 0.0,
            "resumed_from": result.resumed_from,
            "parameters": counts,
        },
        "selected_by": {"metric": select[0], "greater_is_better": select[1]},
        **extra,
    }
    if accelerator.is_main_process:
        run.finish(summary)
    key = select[0]
    dev = final.get("dev") or {}
    log.info("done: %s (dev %s %s)", run.path, key, _fmt(dev.get(key)))
    if accelerator.is_main_process:
        from rawtune.reporting import write_run_report

        write_run_report(run.path)  # RUN/report.html; a problem is a warning, never a failed run
    return run


def _fit_vocabulary(model: Any, tokenizer: Any) -> None:
    """Grow the input embeddings when the tokenizer has tokens the model lacks (added markers); the
    new rows start from the mean and covariance of the old ones (transformers' mean resizing)."""
    emb = model.get_input_embeddings()
    if emb is not None and len(tokenizer) > emb.weight.shape[0]:
        old = emb.weight.shape[0]
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
        log.info(
            "resized the input embeddings from %d to %d rows",
            old,
            model.get_input_embeddings().weight.shape[0],
        )


def _write_reports(
    run: RunDir, task: Any, splits: dict[str, Any], final: dict[str, Any], model_ref: str, best: int | None
) -> None:
    """RUN/eval/<split>/report.{json,md} + plots for each evaluated split, and RUN/eval/report.md."""
    from rawtune.evaluation.report import write_report

    history = run.read_metrics()
    for split, metrics in final.items():
        data = splits[split]
        write_report(
            run.eval_dir / split,
            task=_report_task(task),
            metrics=metrics,
            title=f"{task.name} — {split} ({Path(data.file).name})",
            history=history,
            meta={"model": model_ref, "data": data.file, "examples": len(data.examples), "best_step": best},
        )
    if final:
        write_text(run.eval_dir / "report.md", _index(task, final, run))


def _collate(collator: Any):
    return lambda samples, ids, epoch: collator(samples)


def _select(name: str) -> tuple[str, bool]:
    return (name, name not in ("loss", "mse", "mae"))


def _report_task(task: Any) -> str:
    if task.name in ("ner", "qa", "relations", "seq2seq", "causal"):
        return task.name
    return {"single": "classification", "multi": "multilabel", "regression": "regression"}[task.kind]


def _rate(st: dict[str, Any]) -> float:
    """Training examples (windows, for long inputs) per second of training."""
    return st.get("samples_seen", 0) / st["train_seconds"] if st["train_seconds"] else 0.0


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _index(task: Any, final: dict[str, Any], run: RunDir) -> str:
    key = task.primary[0]
    lines = [f"# {task.name}: {run.path.name}", "", f"| split | {key} | loss | report |", "|---|---|---|---|"]
    for split, m in final.items():
        lines.append(
            f"| {split} | {_fmt(m.get(key))} | {_fmt(m.get('loss'))} | [{split}]({split}/report.md) |"
        )
    return "\n".join(lines) + "\n"


def run_finetune_seeds(config: Any, seeds: list[int], *, resume: bool = False) -> dict[str, Any]:
    """One run per seed under OUTPUT/seed-N, and OUTPUT/seeds.json with mean and std of every
    number in each run's dev/test metrics."""
    cfg: FinetuneConfig = coerce_config("finetune", config)
    root = Path(cfg.output)
    runs = []
    for seed in seeds:
        sub = cfg.model_copy(update={"seed": seed, "output": str(root / f"seed-{seed}")})
        runs.append(run_finetune(sub, resume=resume and (root / f"seed-{seed}").exists()))
    summary: dict[str, Any] = {"seeds": seeds, "runs": [str(r.path) for r in runs]}
    import json

    per_run = [json.loads(r.metrics_json.read_text()) for r in runs]
    for split in ("dev", "test"):
        vals: dict[str, list[float]] = {}
        for m in per_run:
            for k, v in (m.get(split) or {}).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    vals.setdefault(k, []).append(float(v))
        if vals:
            summary[split] = {
                k: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
                for k, v in vals.items()
            }
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "seeds.json", summary)
    return summary
