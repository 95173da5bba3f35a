"""`rawtune augment`: write an augmented copy of a labeled file (the originals plus `factor` copies of
each, same format) and OUTPUT.augment.json with the counts; and the on-the-fly augmentation of a
fine-tuning run's training split (`rawtune finetune --augment N`)."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from rawtune.config.augment import AugmentConfig
from rawtune.errors import DataError, RunDirError
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_json, write_text
from rawtune.stages.common import coerce_config

log = logging.getLogger("rawtune")

_HEADLESS_HINT = (
    "word replacement samples from that head: train it first with continued pretraining "
    "(rawtune pretrain --model MODEL --corpus TEXT --output runs/dapt) and pass the run, or use {alt}"
)


def load_replacer(name: str, model_cfg: Any, options: Any, alt: str) -> Any:
    from rawtune.augmentation.mlm import Replacer
    from rawtune.modeling.mlm import load_masked_lm

    model, tokenizer = load_masked_lm(name, model_cfg, _HEADLESS_HINT.format(alt=alt))
    try:
        return Replacer(
            model,
            tokenizer,
            top_k=options.top_k,
            temperature=options.temperature,
            max_length=options.max_length,
        )
    except ValueError as e:
        from rawtune.errors import ModelError

        raise ModelError(f"model {name}: {e}") from None


def _check_output(cfg: AugmentConfig, kind: str) -> Path:
    src, out = Path(str(cfg.input)), Path(str(cfg.output))
    if out.exists() and out.resolve() == src.resolve():
        raise RunDirError(f"--output {out} is the input file; write the augmented data to a new file")
    if out.is_dir():
        raise RunDirError(f"--output {out} is a directory; give a file name")
    if out.exists() and not cfg.overwrite:
        raise RunDirError(f"--output {out} exists; pass --overwrite to replace it")
    want = {"table": src.suffix.lower(), "ner-jsonl": ".jsonl"}.get(kind)
    is_other = out.suffix.lower() in (".csv", ".tsv", ".jsonl")
    if (want and out.suffix.lower() != want) or (kind == "conll" and is_other):
        raise RunDirError(
            f"--output {out}: the augmented file is written in the input's format ({src.name}); "
            f"give it a {want or 'CoNLL'} name"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def run_augment(config: Any) -> dict[str, Any]:
    """Augment cfg.input into cfg.output; returns the counts (also in OUTPUT.augment.json)."""
    from rawtune.augmentation import formats
    from rawtune.augmentation.plan import augment

    cfg: AugmentConfig = coerce_config("augment", config)
    setup_logging()
    if not Path(str(cfg.input)).is_file():
        raise DataError("no such file", file=str(cfg.input))
    loaded = formats.load(str(cfg.input), cfg.data)
    out = _check_output(cfg, loaded.kind)
    replacer = None
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    if "mlm" in cfg.methods:
        assert cfg.model.name_or_path is not None
        replacer = load_replacer(cfg.model.name_or_path, cfg.model, cfg, "--methods swap (NER)")
    if "swap" in cfg.methods and loaded.kind == "table":
        log.info("swap: NER only; not applied to a table")
    start = time.perf_counter()
    copies, counts = augment(
        loaded.sentences,
        factor=cfg.factor,
        methods=list(cfg.methods),
        seed=cfg.seed,
        fraction=cfg.fraction,
        swap_prob=cfg.swap_prob,
        replacer=replacer,
        batch_size=cfg.batch_size,
    )
    text = formats.render(loaded, copies, cfg.data)
    write_text(out, text)
    stats = {
        "input": str(cfg.input),
        "output": str(out),
        "format": loaded.kind,
        **counts.summary(),
        "seconds": round(time.perf_counter() - start, 3),
        "config": cfg.model_dump(mode="json"),
    }
    write_json(out.with_name(out.name + ".augment.json"), stats)
    return stats


def augment_training_data(task: Any, cfg: Any, data: Any) -> tuple[Any, dict[str, Any]]:
    """`rawtune finetune --augment N`: the training split with N copies of every example after its
    original (dev and test are never augmented), and the counts."""
    from rawtune.augmentation.plan import Sentence, augment

    a = cfg.data.augment
    if task.name not in ("ner", "classification"):
        raise DataError(
            f"--augment: not available for task {task.name} (ner, classification)", file=data.file
        )
    ner = task.name == "ner"
    if ner:
        sentences = [Sentence(list(ex.tokens), list(ex.tags)) for ex in data.examples]
    else:
        from rawtune.data.words import split_words

        split = [split_words(ex.text) for ex in data.examples]
        sentences = [Sentence([w for w, _, _ in words]) for words in split]
    replacer = None
    model_name = a.model or cfg.model.name_or_path
    if "mlm" in a.methods:
        alt = "--augment-model with a masked LM" + (", or --data.augment.methods=swap" if ner else "")
        replacer = load_replacer(model_name, cfg.model, a, alt)
    start = time.perf_counter()
    copies, counts = augment(
        sentences,
        factor=a.factor,
        methods=list(a.methods),
        seed=cfg.seed if a.seed is None else a.seed,
        fraction=a.fraction,
        swap_prob=a.swap_prob,
        replacer=replacer,
        batch_size=a.batch_size,
    )
    by_example: dict[int, list[Any]] = {}
    for cp in copies:
        by_example.setdefault(cp.example, []).append(cp)
    examples = []
    for e, ex in enumerate(data.examples):
        examples.append(ex)
        for cp in by_example.get(e, []):
            if ner:
                examples.append(dataclasses.replace(ex, tokens=cp.words, tags=cp.tags, spans=None))
            else:
                from rawtune.augmentation.formats import replaced_text

                spans = [(a0, b0) for _, a0, b0 in split[e]]
                examples.append(dataclasses.replace(ex, text=replaced_text(ex.text, spans, cp)))
    stats = {**counts.summary(), "model": model_name if replacer else None,
             "seconds": round(time.perf_counter() - start, 3)}  # fmt: skip
    log.info(
        "augmented the training set: %d -> %d examples (%d words replaced, %.3f of the replaceable; "
        "%d entities swapped)",
        counts.examples_in,
        counts.examples_out,
        counts.words_replaced,
        stats["fraction_replaced"],
        counts.entities_swapped,
    )
    return dataclasses.replace(data, examples=examples), stats
