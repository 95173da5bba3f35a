"""`rawtune pretrain`: MLM / CLM on raw text, continued from a backbone or from scratch."""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

from rawtune.config.loader import dump_config
from rawtune.config.schema import PretrainConfig
from rawtune.errors import ModelError
from rawtune.logs import setup_logging
from rawtune.runs.atomic import atomic_dir
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


def _tokenizer(cfg: PretrainConfig, src: Any) -> Any:
    from rawtune.data.corpus import cache_root
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.modeling.tokenizers import train_tokenizer

    tcfg = cfg.tokenizer
    if tcfg.path:
        return load_tokenizer(tcfg.path, cfg.model)
    if tcfg.train or cfg.model.init == "scratch":
        from rawtune.data.readers.text import sources_fingerprint

        key = hashlib.sha256(
            (
                sources_fingerprint(cfg.data.corpus, cfg.data)
                + tcfg.model_dump_json()
                + cfg.data.model_dump_json()
            ).encode()
        ).hexdigest()[:20]
        out = cache_root(cfg.data) / "tokenizers" / key
        if not (out / "tokenizer.json").is_file():
            log.info("training a %s tokenizer (vocab %d) on the corpus", tcfg.type, tcfg.vocab_size)
            if out.exists():
                import shutil

                shutil.rmtree(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            train_tokenizer(
                cfg.data.corpus,
                out,
                type=tcfg.type,
                vocab_size=tcfg.vocab_size,
                min_frequency=tcfg.min_frequency,
                lowercase=tcfg.lowercase,
                data_cfg=cfg.data,
                model_max_length=cfg.data.seq_len,
            )
        return load_tokenizer(str(out))
    return load_tokenizer(src.ref, cfg.model)


def _add_domain_words(cfg: PretrainConfig, tokenizer: Any) -> list[str]:
    if not cfg.tokenizer.add_domain_words:
        return []
    from rawtune.data.corpus import normalize
    from rawtune.data.readers.text import iter_documents
    from rawtune.modeling.tokenizers import add_domain_words

    texts = (normalize(d.text, cfg.data.normalize) for d in iter_documents(cfg.data.corpus, cfg.data))
    added = add_domain_words(
        tokenizer, texts, cfg.tokenizer.add_domain_words, cfg.tokenizer.domain_word_min_count
    )
    log.info("added %d domain words to the vocabulary (e.g. %s)", len(added), ", ".join(added[:5]))
    return added


def _check_positions(model: Any, seq_len: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None
    )
    if model.config.model_type in ("roberta", "xlm-roberta", "camembert") and limit:
        limit -= 2
    if limit and seq_len > limit:
        raise ModelError(f"data.seq_len={seq_len} exceeds the model's {limit} positions")


def run_pretrain(config: Any, *, resume: bool = False) -> RunDir:
    import torch
    from transformers.utils import logging as hf_logging

    from rawtune.data.batching import SequentialBatches, ShuffledBatches
    from rawtune.data.corpus import BlockSet, build_corpus
    from rawtune.data.tokenization import tokenizer_fingerprint
    from rawtune.modeling.backbone import build_lm, resolve
    from rawtune.tasks.lm import LanguageModeling
    from rawtune.train.evaluate import evaluate_module
    from rawtune.train.fit import fit

    cfg: PretrainConfig = coerce_config("pretrain", config)
    setup_logging()
    hf_logging.disable_progress_bar()  # our own progress bar and log lines say what happens
    accelerator = make_accelerator(cfg.train)
    run, done = open_run(cfg, resume, accelerator)
    if done:
        log.info("%s is already complete; nothing to resume", run.path)
        return run
    if accelerator.num_processes > 1:
        log.info("data-parallel: %d processes", accelerator.num_processes)
    src = resolve(cfg.model.name_or_path) if cfg.model.init == "pretrained" else None
    # rank 0 trains the tokenizer and builds the corpus cache first; the other processes read them
    with accelerator.main_process_first():
        tokenizer = _tokenizer(cfg, src)
        domain_words = _add_domain_words(cfg, tokenizer)
        if cfg.objective.name == "span":
            from rawtune.tasks.span import sentinel_ids

            sentinel_ids(tokenizer)  # <extra_id_N>: T5's own tokenizer has them, a new one gets them
        task = LanguageModeling(cfg.objective, tokenizer)
        task.check()
        corpus = build_corpus(cfg.data, tokenizer, log=log.info)
    torch.manual_seed(cfg.seed)  # head initialisation and scratch weights are a function of the seed
    model = build_lm(cfg.model, cfg.objective.name, tokenizer, src, max_positions=cfg.data.seq_len)
    _check_positions(model, cfg.data.seq_len)
    fingerprint = {
        "config": config_fingerprint(cfg),
        "data": corpus.fingerprint,
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    if not resume:
        create_run(
            accelerator,
            run.path,
            dump_config(cfg),
            {
                "stage": "pretrain",
                "parent": src.parent_run if src else None,
                "model_source": {"ref": src.ref, "kind": src.kind}
                if src
                else {"init": "scratch", "arch": cfg.model.arch},
                "fingerprints": fingerprint,
                "corpus": corpus.stats.to_dict(),
                "domain_words": domain_words,
            },
        )
    log_into_run(run, accelerator)
    module = task.module(model)
    bs = cfg.train.batch_size
    if isinstance(corpus.train, BlockSet):
        stream = ShuffledBatches(corpus.train, bs, task.collator(cfg.seed, True), cfg.seed)
    else:
        stream = SequentialBatches(corpus.train.iter_from, bs, task.collator(cfg.seed, True))
    evaluate = None
    if len(corpus.validation):
        val = ShuffledBatches(corpus.validation, bs, task.collator(cfg.seed, False), cfg.seed, shuffle=False)
        n_val = math.ceil(len(corpus.validation) / bs)
        evaluate = lambda m: task.finalize(evaluate_module(m, val, n_val, accelerator))  # noqa: E731
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
        )
        if accelerator.is_main_process:
            with atomic_dir(run.model_dir) as tmp:
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
    st = result.state
    metrics = {
        "stage": "pretrain",
        "objective": cfg.objective.name,
        "before": result.before,
        "after": result.after,
        "best": st["best"],
        "best_step": st["best_step"],
        "steps": st["step"],
        "total_steps": result.total_steps,
        "tokens_seen": st["tokens_seen"],
        "train_seconds": st["train_seconds"],
        "tokens_per_s": st["tokens_seen"] / st["train_seconds"] if st["train_seconds"] else 0.0,
        "resumed_from": result.resumed_from,
        "corpus": corpus.stats.to_dict(),
    }
    if accelerator.is_main_process:
        run.finish(metrics)
    log.info("done: %s (validation loss %s -> %s)", run.path, _fmt(result.before), _fmt(result.after))
    if accelerator.is_main_process:
        from rawtune.reporting import write_run_report

        write_run_report(run.path)  # RUN/report.html; a problem is a warning, never a failed run
    return run


def _fmt(m: dict[str, Any] | None) -> str:
    return f"{m['loss']:.4f}" if m else "n/a"
