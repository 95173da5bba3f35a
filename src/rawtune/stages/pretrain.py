"""`rawtune pretrain`: MLM / CLM on raw text, continued from a backbone or from scratch. A checkpoint
without a trained LM head gets its head warmed up first, the encoder frozen (`rawtune.pretraining`)."""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from rawtune.config.identity import config_fingerprint
from rawtune.config.loader import coerce_config
from rawtune.config.schema import PretrainConfig
from rawtune.pretraining import warmup
from rawtune.pretraining.summary import summary
from rawtune.runs.rundir import RunDir
from rawtune.train.run import RunSpec, Training, TrainingRun

log = logging.getLogger("rawtune")


def run_pretrain(config: Any, *, resume: bool = False) -> RunDir:
    import torch

    from rawtune.data.corpus import build_corpus
    from rawtune.data.tokenization import tokenizer_fingerprint
    from rawtune.modeling.backbone import build_lm, check_positions, resolve
    from rawtune.modeling.lm_tokenizer import add_corpus_words, pretrain_tokenizer
    from rawtune.tasks.lm import LanguageModeling

    cfg: PretrainConfig = coerce_config("pretrain", config)
    tr = TrainingRun.open(cfg, cfg.train, resume=resume)
    if tr.done:
        return tr.run
    if tr.accelerator.num_processes > 1:
        log.info("data-parallel: %d processes", tr.accelerator.num_processes)
    src = resolve(cfg.model.name_or_path) if cfg.model.init == "pretrained" else None
    # rank 0 trains the tokenizer and builds the corpus cache first; the other processes read them
    with tr.accelerator.main_process_first():
        tokenizer = pretrain_tokenizer(cfg, src)
        domain_words = add_corpus_words(cfg, tokenizer)
        if cfg.objective.name == "span":
            from rawtune.tasks.span import sentinel_ids

            sentinel_ids(tokenizer)  # <extra_id_N>: T5's own tokenizer has them, a new one gets them
        task = LanguageModeling(cfg.objective, tokenizer)
        task.check()
        corpus = build_corpus(cfg.data, tokenizer, log=log.info)
    torch.manual_seed(cfg.seed)  # head initialisation and scratch weights are a function of the seed
    model, untrained = build_lm(cfg.model, cfg.objective.name, tokenizer, src, max_positions=cfg.data.seq_len)
    check_positions(model, cfg.data.seq_len)
    fingerprint = {
        "config": config_fingerprint(cfg),
        "data": corpus.fingerprint,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    manifest = {
        "stage": "pretrain",
        "parent": src.parent_run if src else None,
        "model_source": {"ref": src.ref, "kind": src.kind}
        if src
        else {"init": "scratch", "arch": cfg.model.arch},
        "fingerprints": fingerprint,
        "corpus": corpus.stats.to_dict(),
        "domain_words": domain_words,
        "untrained_head": untrained,
    }
    stream, evaluate = _batches(cfg, task, corpus, tr.accelerator)
    module = task.module(model)
    train_cfg = warmup.sized(
        cfg.train, stream.micro_per_epoch, tr.accelerator.num_processes, cfg.train.steps_cap
    )
    training = Training(module, stream, train_cfg, cfg.seed, fingerprint, evaluate)
    phases = []
    if warmup.wants_head_warmup(cfg, untrained):
        head_cfg = warmup.head_config(cfg)
        enter = warmup.entering(model, True, cfg)
        phases = [
            Training(
                module, stream, head_cfg, cfg.seed, fingerprint, evaluate, phase=warmup.HEAD, enter=enter
            )
        ]
        training = dataclasses.replace(training, phase=warmup.FULL, enter=warmup.entering(model, False, cfg))

    def save(d: Any) -> None:
        model.save_pretrained(d)
        tokenizer.save_pretrained(d)

    from rawtune.reporting import write_run_report

    conclude = lambda result: summary(cfg, corpus, result)  # noqa: E731
    spec = RunSpec(manifest, training, conclude, {"model": save}, report=write_run_report, warmup=phases)
    result = tr.train(spec).fit
    log.info("done: %s (validation loss %s -> %s)", tr.run.path, _fmt(result.before), _fmt(result.after))
    return tr.run


def _batches(cfg: PretrainConfig, task: Any, corpus: Any, accelerator: Any) -> tuple[Any, Any]:
    """The training batches (shuffled blocks, or a stream over a corpus too large to shuffle) and
    the evaluation on the validation blocks, if any."""
    from rawtune.data.batching import SequentialBatches, ShuffledBatches
    from rawtune.data.corpus import BlockSet
    from rawtune.train.evaluate import evaluate_module

    bs = cfg.train.batch_size
    if isinstance(corpus.train, BlockSet):
        stream = ShuffledBatches(corpus.train, bs, task.collator(cfg.seed, True), cfg.seed)
    else:
        stream = SequentialBatches(corpus.train.iter_from, bs, task.collator(cfg.seed, True))
    if not len(corpus.validation):
        return stream, None
    val = ShuffledBatches(corpus.validation, bs, task.collator(cfg.seed, False), cfg.seed, shuffle=False)
    n_val = math.ceil(len(corpus.validation) / bs)
    return stream, lambda m: task.finalize(evaluate_module(m, val, n_val, accelerator))


def _fmt(m: dict[str, Any] | None) -> str:
    return f"{m['loss']:.4f}" if m else "n/a"
