"""`rawtune augment`: write an augmented copy of a labeled file (the originals plus `factor` copies of
each, same format) and OUTPUT.augment.json with the counts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from rawtune.config.augment import AugmentConfig
from rawtune.config.loader import coerce_config
from rawtune.errors import DataError, RunDirError
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_json, write_text

log = logging.getLogger("rawtune")


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
    from rawtune.augmentation.mlm import load_replacer
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
