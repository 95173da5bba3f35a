"""One PET-style few-shot run: a masked LM fine-tuned by `train.fit.fit` with
`tasks.prompt_cls.PromptLoss` (cross-entropy over the verbaliser words' logits at the template's
mask) on the k-shot sample. RUN/model/ is the masked LM (AutoModelForMaskedLM loads it) with its
tokenizer and fewshot.json (template and verbaliser)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from rawtune.config.fewshot import FewshotConfig
from rawtune.runs.atomic import write_json
from rawtune.runs.rundir import RunDir

log = logging.getLogger("rawtune")


def _fit(
    cfg: FewshotConfig,
    seed: int,
    module: Any,
    features: list[dict[str, Any]],
    pad: int,
    run: RunDir,
    evaluate,
    resume: bool,
):
    from rawtune.data.batching import ShuffledBatches
    from rawtune.stages.common import config_fingerprint, make_accelerator
    from rawtune.tasks.prompt_cls import PromptCollator
    from rawtune.train.fit import fit

    train_cfg = cfg.pet.train
    collate = PromptCollator(pad)
    stream = ShuffledBatches(
        features,
        train_cfg.batch_size,
        lambda samples, _ids, _epoch: collate(samples),
        seed,
        lengths=[len(f["input_ids"]) for f in features],
    )
    accelerator = make_accelerator(train_cfg)
    data_hash = hashlib.sha256(repr(features).encode()).hexdigest()[:16]
    return fit(
        module,
        stream,
        cfg=train_cfg,
        run=run,
        accelerator=accelerator,
        seed=seed,
        evaluate=evaluate,
        fingerprint={"config": config_fingerprint(cfg), "data": data_hash},
        resume=resume,
        select=("macro_f1", True),
    )


def run_pet(
    cfg: FewshotConfig,
    seed: int,
    kshot: dict[str, Any],
    out: Path,
    *,
    sample,
    splits,
    space,
    resume: bool = False,
    **_: Any,
) -> dict[str, Any]:
    import torch

    from rawtune.evaluation.metrics import classification_metrics
    from rawtune.logs import setup_logging
    from rawtune.modeling.backbone import load_tokenizer, resolve
    from rawtune.modeling.mlm import load_trained_mlm
    from rawtune.modeling.tokenizers import pad_id
    from rawtune.stages.common import records_failure
    from rawtune.stages.setfit import create_run, write_reports
    from rawtune.tasks.prompt_cls import PromptLoss, encode_prompts, predict_ids, verbalizer_ids

    src = resolve(cfg.model.name_or_path)
    tokenizer = load_tokenizer(src.ref, cfg.model)
    labels = list(space.labels)
    word_ids = verbalizer_ids(tokenizer, cfg.pet.verbalizer or {}, labels)
    torch.manual_seed(seed)
    module = PromptLoss(load_trained_mlm(src.ref, cfg.model), word_ids)
    n, pad = cfg.data.max_length, pad_id(tokenizer)
    features = encode_prompts(tokenizer, [ex.text for ex in sample], cfg.pet.template, n)
    for f, ex in zip(features, sample):
        f["label"] = labels.index(ex.label)

    def score(data: Any) -> dict[str, Any]:
        feats = encode_prompts(tokenizer, [ex.text for ex in data.examples], cfg.pet.template, n)
        pred = [labels[j] for j in predict_ids(module, feats, pad)]
        return classification_metrics([ex.label for ex in data.examples], pred, labels)

    run = create_run(cfg, seed, out, "pet", src, labels, kshot, splits, resume=resume)
    setup_logging(run.logs_dir / "train.log")
    dev = splits.get("dev")
    with records_failure(run):
        result = _fit(
            cfg,
            seed,
            module,
            features,
            pad,
            run,
            (lambda _m: score(dev)) if dev is not None else None,
            resume,
        )
        module.to("cpu")
        st = result.state
        final: dict[str, Any] = {}
        if result.after is not None and st["best_step"] in (None, st["step"]):
            final["dev"] = result.after
        for split in ("dev", "test"):
            if split in splits and split not in final:
                final[split] = score(splits[split])
        _save(run, module.model, tokenizer, cfg, labels)
        write_reports(run, final, splits, src.ref, "pet")
    summary = {
        "task": "classification",
        "method": "pet",
        **final,
        "train": {
            "examples": len(sample),
            "steps": st["step"],
            "train_seconds": st["train_seconds"],
            "resumed_from": result.resumed_from,
        },
        "kshot": kshot,
    }
    run.finish(summary)
    return summary


def _save(run: RunDir, model: Any, tokenizer: Any, cfg: FewshotConfig, labels: list[str]) -> None:
    model.save_pretrained(str(run.model_dir))
    tokenizer.save_pretrained(str(run.model_dir))
    meta = {"method": "pet", "template": cfg.pet.template, "verbalizer": cfg.pet.verbalizer, "labels": labels}
    write_json(run.model_dir / "fewshot.json", meta)
