"""`rawtune fewshot --task ner --learner nnshot|proto`: one run of a training-free few-shot NER tagger.
The backbone embeds the k-shot sentences and the dev (and test) sentences; each word takes the label
of its nearest labeled word (nnshot) or type prototype (proto). The run directory holds the config,
the manifest with the sample drawn, metrics.json and the evaluation reports; there is no trained
model to save (the tagger is the backbone plus the sample file in OUTPUT/kshot/)."""

from __future__ import annotations

import logging
import time
from typing import Any

from rawtune.fewshot.methods import FEWSHOT_METHODS, FewshotMethod, SeedSample

log = logging.getLogger("rawtune")


def run_neighbours(s: SeedSample) -> dict[str, Any]:
    from transformers import AutoModel

    from rawtune.config.loader import dump_config
    from rawtune.evaluation.metrics import ner_metrics
    from rawtune.evaluation.report import write_report
    from rawtune.modeling.backbone import load_pretrained, load_tokenizer, resolve
    from rawtune.runs.rundir import RunDir
    from rawtune.tasks.fewshot_ner import WordNeighbours, embed_words

    cfg, seed, kshot, out, sample, splits = s.cfg, s.seed, s.kshot, s.out, s.sample, s.splits
    run = RunDir.create(
        out,
        dump_config(cfg),
        {"stage": "fewshot", "task": "ner", "method": cfg.method, "seed": seed, "kshot": kshot},
    )
    start = time.time()
    src = resolve(str(cfg.model.name_or_path))
    tokenizer = load_tokenizer(src.ref, cfg.model)
    model = load_pretrained(src, AutoModel, cfg.model)
    max_length = cfg.data.max_length
    support = embed_words(model, tokenizer, [e.tokens for e in sample], max_length=max_length)
    tagger = WordNeighbours.from_support(support, [e.tags for e in sample], cfg.method)
    metrics: dict[str, Any] = {"task": "ner", "method": cfg.method}
    for split in ("dev", "test"):
        if split not in splits:
            continue
        data = splits[split]
        vectors = embed_words(model, tokenizer, [e.tokens for e in data.examples], max_length=max_length)
        metrics[split] = ner_metrics([e.tags for e in data.examples], tagger.predict(vectors))
        write_report(
            run.eval_dir / split,
            task="ner",
            metrics=metrics[split],
            title=f"few-shot NER ({cfg.method}, k={cfg.shots}, seed {seed}) — {split}",
            meta={"model": src.ref, "data": data.file, "support sentences": len(sample)},
        )
    metrics["train"] = {"examples": len(sample), "train_seconds": 0.0, "seconds": time.time() - start}
    run.finish(metrics)
    log.info(
        "fewshot %s seed %d: dev f1 %.4f",
        cfg.method,
        seed,
        (metrics.get("dev") or {}).get("f1", float("nan")),
    )
    return metrics


for _name in ("nnshot", "proto"):  # nothing trains, so nothing to resume
    FEWSHOT_METHODS.register(_name)(FewshotMethod(run_neighbours, trains=False))
