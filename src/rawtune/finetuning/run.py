"""A fine-tuning run in steps: `prepare` reads and checks the data and builds the tuned model (a
`FineTuning`); `run_spec` turns it into the run skeleton's `RunSpec` (features and batches, the dev
evaluation, the model selection, the manifest, the final scores and reports, what is saved); `train`
hands that to the skeleton. `finetune` is the three in order. Continual learning and hyperparameter
trials compose the same steps and adapt the `RunSpec` (a wrapped training module, more fit
callbacks, more manifest entries, more summary) before it is trained."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from rawtune.config.schema import FinetuneConfig
from rawtune.modeling.backbone import Source
from rawtune.runs.rundir import RunDir
from rawtune.train.run import RunSpec, Training, TrainingRun

log = logging.getLogger("rawtune")


@dataclasses.dataclass
class FineTuning:
    """A fine-tuning run with its data read and checked and its model built and tuned."""

    cfg: FinetuneConfig
    task: Any
    splits: dict[str, Any]  # "train"[, "dev"][, "test"]
    space: Any  # the label space trained on
    src: Source  # where the model came from
    tokenizer: Any
    tuned: Any  # tuning.Tuned: the model to train, what it saves, its parameter counts
    data_fingerprint: str  # of the files as read (augmentation is a function of the config)
    augmentation: dict[str, Any] | None = None  # the counts of `rawtune finetune --augment N`


def finetune(cfg: FinetuneConfig, *, resume: bool = False) -> RunDir:
    """One fine-tuning run (`rawtune finetune`)."""
    tr = TrainingRun.open(cfg, cfg.train, resume=resume)
    if tr.done:
        return tr.run
    return train(tr, run_spec(tr, prepare(cfg)))


def prepare(cfg: FinetuneConfig) -> FineTuning:
    """Every file read and checked, then the tokenizer, the model and the tuning method."""
    from rawtune.data.splits import data_fingerprint, read_splits
    from rawtune.finetuning.model import build_model, complete_model, load_tokenizer_for, tune
    from rawtune.tasks.base import get_task

    task = get_task(cfg)
    splits, space = read_splits(task, cfg)
    fingerprint = data_fingerprint(splits)
    augmentation = None
    if cfg.data.augment.factor:
        from rawtune.augmentation.training import augment_training_data

        splits["train"], augmentation = augment_training_data(task, cfg, splits["train"])
    check_labels(task, space, splits)
    src, tokenizer = load_tokenizer_for(task, cfg, splits["train"])
    model = complete_model(task, build_model(task, cfg, src, tokenizer, space), tokenizer, space)
    tuned = tune(task, cfg, src, tokenizer, model)
    return FineTuning(cfg, task, splits, space, src, tokenizer, tuned, fingerprint, augmentation)


def check_labels(task: Any, space: Any, splits: dict[str, Any]) -> None:
    """Every dev and test label is one the model is trained on."""
    for name in ("dev", "test"):
        if name in splits:
            task.check_labels(space, splits[name], name)


def run_spec(tr: TrainingRun, ft: FineTuning) -> RunSpec:
    """What the skeleton trains: the encoded training set in shuffled batches, the task's training
    module, the dev evaluation and the metric that picks the best model; the manifest and
    data_stats.json of a new run; the final scores (test once, at the end) with their reports; and
    what the tuning method saves."""
    from rawtune.config.identity import config_fingerprint
    from rawtune.data.tokenization import tokenizer_fingerprint
    from rawtune.finetuning.reports import summary, write_reports
    from rawtune.reporting import write_run_report
    from rawtune.tuning.io import tuned_writers

    cfg, task, splits = ft.cfg, ft.task, ft.splits
    counts = ft.tuned.parameters
    fingerprint = {
        "config": config_fingerprint(cfg),
        "data": ft.data_fingerprint,
        "tokenizer": tokenizer_fingerprint(ft.tokenizer),
    }
    log.info(
        "%s: %d labels, %d train examples; training %s of %s parameters",
        task.name,
        len(ft.space.labels),
        len(splits["train"].examples),
        f"{counts['trainable']:,}",
        f"{counts['total']:,}",
    )
    features, stream = batches(ft)
    evaluate_on = evaluator(ft, tr.accelerator)
    select = task.primary if cfg.train.metric_for_best is None else selected_by(cfg.train.metric_for_best)
    module = task.train_module(ft.tuned.model, ft.space, splits["train"])
    dev = evaluate_on(splits["dev"]) if "dev" in splits else None
    training = Training(
        module, stream, cfg.train, cfg.seed, fingerprint, dev, select, list(ft.tuned.callbacks)
    )

    def conclude(result: Any) -> dict[str, Any]:
        final: dict[str, Any] = {}
        if "dev" in splits:
            final["dev"] = result.after
        if "test" in splits:
            final["test"] = evaluate_on(splits["test"])(training.module)
        if tr.main:
            write_reports(tr.run, task, splits, final, ft.src.ref, result.state["best_step"])
        return summary(ft, final, result, len(features), select)

    files = {} if tr.resume or not tr.main else {"data_stats.json": _data_stats(ft, features)}
    save = tuned_writers(ft.tuned, ft.tokenizer, task.auto_class_name)
    return RunSpec(manifest(tr, ft, fingerprint), training, conclude, save, files, write_run_report)


def train(tr: TrainingRun, spec: RunSpec) -> RunDir:
    """The run trained, saved and reported by the skeleton."""
    from rawtune.finetuning.reports import fmt

    trained = tr.train(spec)
    key = spec.training.select[0]
    dev = trained.summary.get("dev") or {}
    log.info("done: %s (dev %s %s)", tr.run.path, key, fmt(dev.get(key)))
    return tr.run


def batches(ft: FineTuning) -> tuple[list[dict[str, Any]], Any]:
    """The encoded training examples and their shuffled batches (grouped by length if asked)."""
    from rawtune.data.batching import feature_batches

    cfg = ft.cfg
    features = ft.task.train_features(ft.tokenizer, ft.splits["train"], ft.space)
    lengths = [len(f["input_ids"]) for f in features] if cfg.data.group_by_length else None
    size = ft.task.window_batch(features, cfg.train.batch_size)  # ner, document context: fewer windows
    return features, feature_batches(features, size, ft.task.collator(ft.tokenizer), cfg.seed, lengths)


def evaluator(ft: FineTuning, accelerator: Any) -> Callable[[Any], Callable[[Any], dict[str, Any]]]:
    """evaluate_on(data)(training module) -> the task's metrics of its model on `data`."""
    from rawtune.tasks.base import Inference

    inference = Inference(batch_size=max(32, ft.cfg.train.batch_size * 2), autocast=accelerator.autocast)

    def evaluate_on(data: Any) -> Callable[[Any], dict[str, Any]]:
        return lambda module: ft.task.evaluate(
            accelerator.unwrap_model(module).model, ft.tokenizer, data, ft.space, inference
        )

    return evaluate_on


def selected_by(name: str) -> tuple[str, bool]:
    """`train.metric_for_best` as (metric, greater is better)."""
    return (name, name not in ("loss", "mse", "mae"))


def manifest(tr: TrainingRun, ft: FineTuning, fingerprint: dict[str, Any]) -> dict[str, Any]:
    tuned = ft.tuned
    return {
        "stage": tr.config.stage,  # `continual` writes its own config (and stage) for the same run
        "task": ft.task.name,
        "parent": ft.src.parent_run,
        "model_source": {"ref": ft.src.ref, "kind": ft.src.kind},
        "fingerprints": fingerprint,
        "labels": list(ft.space.labels),
        "data": {k: {"file": v.file, "examples": len(v.examples)} for k, v in ft.splits.items()},
        "parameters": tuned.parameters,
        "tuning": {"method": tuned.method, "base": tuned.base},
        **({"augmentation": ft.augmentation} if ft.augmentation else {}),
    }


def _data_stats(ft: FineTuning, features: list[dict[str, Any]]) -> dict[str, Any]:
    from rawtune.evaluation.datastats import data_statistics

    stats = data_statistics(ft.splits, features, ft.cfg.data.max_length)
    if ft.augmentation:
        stats["train"]["augmentation"] = ft.augmentation
    return stats
