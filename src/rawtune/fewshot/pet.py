"""One PET-style few-shot run: a masked LM fine-tuned by the run skeleton with
`tasks.prompt_cls.PromptLoss` (cross-entropy over the verbaliser words' logits at the template's
mask) on the k-shot sample. RUN/model/ is the masked LM (AutoModelForMaskedLM loads it) with its
tokenizer and fewshot.json (template and verbaliser)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rawtune.artifacts.methods import META_FILE
from rawtune.config.fewshot import FewshotConfig
from rawtune.fewshot import seed_run
from rawtune.fewshot.methods import FEWSHOT_METHODS, FewshotMethod, SeedSample
from rawtune.runs.atomic import write_json
from rawtune.train.run import RunSpec, Training


def _training(
    cfg: FewshotConfig, seed: int, module: Any, features: list[dict[str, Any]], pad: int, evaluate: Any
) -> Training:
    from rawtune.config.identity import config_fingerprint
    from rawtune.data.batching import feature_batches
    from rawtune.tasks.prompt_cls import PromptCollator

    train_cfg = cfg.pet.train
    lengths = [len(f["input_ids"]) for f in features]
    stream = feature_batches(features, train_cfg.batch_size, PromptCollator(pad), seed, lengths)
    data_hash = hashlib.sha256(repr(features).encode()).hexdigest()[:16]
    fingerprint = {"config": config_fingerprint(cfg), "data": data_hash}
    return Training(module, stream, train_cfg, seed, fingerprint, evaluate, ("macro_f1", True))


def run_pet(s: SeedSample) -> dict[str, Any]:
    import torch

    from rawtune.evaluation.metrics import classification_metrics
    from rawtune.modeling.mlm import load_trained_mlm
    from rawtune.modeling.tokenizers import pad_id
    from rawtune.tasks.prompt_cls import PromptLoss, encode_prompts, predict_ids, verbalizer_ids

    cfg, seed, kshot, sample, splits, space = s.cfg, s.seed, s.kshot, s.sample, s.splits, s.space
    src, tokenizer = seed_run.backbone(cfg)
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

    tr = seed_run.open_seed_run(s, cfg.pet.train)
    dev = splits.get("dev")

    def conclude(result: Any) -> dict[str, Any]:
        module.to("cpu")
        final = seed_run.final_scores(result, splits, score)
        seed_run.write_reports(tr.run, final, splits, src.ref, "pet")
        return seed_run.seed_summary("pet", final, result, {"examples": len(sample)}, kshot)

    save = {"model": lambda d: _save(d, module.model, tokenizer, cfg, labels)}
    training = _training(
        cfg, seed, module, features, pad, (lambda _m: score(dev)) if dev is not None else None
    )
    manifest = seed_run.seed_manifest(s, "pet", src)
    return tr.train(RunSpec(manifest, training, conclude, save)).summary


def _save(d: Path, model: Any, tokenizer: Any, cfg: FewshotConfig, labels: list[str]) -> None:
    model.save_pretrained(str(d))
    tokenizer.save_pretrained(str(d))
    meta = {"method": "pet", "template": cfg.pet.template, "verbalizer": cfg.pet.verbalizer, "labels": labels}
    write_json(d / META_FILE, meta)


FEWSHOT_METHODS.register("pet")(FewshotMethod(run_pet))
