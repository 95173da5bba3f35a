"""One SetFit-style few-shot run: the sentence encoder trained on contrastive pairs of the k-shot
sample by the run skeleton (the loop finetune uses, with `tasks.contrastive.CosinePairLoss` as the
objective), then a logistic-regression head on its embeddings. RUN/model/ is the encoder
(AutoModel.from_pretrained loads it) with its tokenizer, fewshot_head.json (the head's numbers) and
fewshot.json (how to embed: mean pooling, L2-normalised)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from rawtune.artifacts.methods import HEAD_FILE, META_FILE
from rawtune.config.fewshot import FewshotConfig
from rawtune.fewshot import seed_run
from rawtune.fewshot.methods import FEWSHOT_METHODS, FewshotMethod, SeedSample
from rawtune.runs.atomic import write_json
from rawtune.train.run import RunSpec, Training

log = logging.getLogger("rawtune")


def _scorer(tokenizer: Any, sample: list[Any], cfg: FewshotConfig, seed: int, space: Any):
    """(fit_head(encoder) -> head on the sample's current embeddings, score(encoder, data) ->
    metrics of that head on the data)."""
    from rawtune.evaluation.metrics import classification_metrics
    from rawtune.tasks.contrastive import LogisticHead, embed

    n = cfg.data.max_length

    def fit_head(encoder: Any) -> Any:
        x = embed(encoder, tokenizer, [ex.text for ex in sample], n)
        return LogisticHead.fit(x, [ex.label for ex in sample], cfg.setfit.head_c, seed)

    def score(encoder: Any, data: Any) -> dict[str, Any]:
        head = fit_head(encoder)
        pred = head.predict(embed(encoder, tokenizer, [ex.text for ex in data.examples], n))
        gold = [ex.label for ex in data.examples]
        return classification_metrics(gold, pred, list(space.labels))

    return fit_head, score


def _training(
    cfg: FewshotConfig, seed: int, encoder: Any, tokenizer: Any, sample: list[Any], evaluate: Any
) -> Training:
    """The encoder's contrastive training on (positive, negative) pairs of the sample."""
    from rawtune.config.identity import config_fingerprint
    from rawtune.data.batching import feature_batches
    from rawtune.modeling.tokenizers import pad_id
    from rawtune.tasks.contrastive import CosinePairLoss, PairCollator, make_pairs

    train_cfg = cfg.setfit.train
    ids = tokenizer([ex.text for ex in sample], truncation=True, max_length=cfg.data.max_length)["input_ids"]
    cap = cfg.setfit.max_pairs - cfg.setfit.max_pairs % 2  # whole (positive, negative) couples
    pairs = make_pairs([ex.label for ex in sample], cfg.setfit.iterations, seed)[:cap]
    features = [{"a": ids[i], "b": ids[j], "target": t} for i, j, t in pairs]
    lengths = [len(f["a"]) + len(f["b"]) for f in features]
    stream = feature_batches(features, train_cfg.batch_size, PairCollator(pad_id(tokenizer)), seed, lengths)
    log.info("setfit: %d pairs (%d rounds) from %d examples", len(pairs), cfg.setfit.iterations, len(sample))
    data_hash = hashlib.sha256(repr(pairs).encode() + repr(ids).encode()).hexdigest()[:16]
    fingerprint = {"config": config_fingerprint(cfg), "data": data_hash}
    return Training(
        CosinePairLoss(encoder), stream, train_cfg, seed, fingerprint, evaluate, ("macro_f1", True)
    )


def run_setfit(s: SeedSample) -> dict[str, Any]:
    import torch
    from transformers import AutoModel

    from rawtune.modeling.backbone import load_pretrained

    cfg, seed, kshot, sample, splits, space = s.cfg, s.seed, s.kshot, s.sample, s.splits, s.space
    src, tokenizer = seed_run.backbone(cfg)
    torch.manual_seed(seed)
    encoder = load_pretrained(src, AutoModel, cfg.model)
    tr = seed_run.open_seed_run(s, cfg.setfit.train)
    fit_head, score = _scorer(tokenizer, sample, cfg, seed, space)
    dev = splits.get("dev")
    evaluate = (lambda m: score(tr.accelerator.unwrap_model(m).model, dev)) if dev is not None else None

    def conclude(result: Any) -> dict[str, Any]:
        encoder.to("cpu")
        final = seed_run.final_scores(result, splits, lambda data: score(encoder, data))
        seed_run.write_reports(tr.run, final, splits, src.ref, "setfit")
        counts = {"examples": len(sample), "pairs": result.state.get("samples_seen")}
        return seed_run.seed_summary("setfit", final, result, counts, kshot)

    # the head on the final embeddings (the same fit the scores used)
    save = {"model": lambda d: _save(d, encoder, tokenizer, fit_head(encoder), cfg)}
    manifest = seed_run.seed_manifest(s, "setfit", src)
    training = _training(cfg, seed, encoder, tokenizer, sample, evaluate)
    return tr.train(RunSpec(manifest, training, conclude, save)).summary


def _save(d: Path, encoder: Any, tokenizer: Any, head: Any, cfg: FewshotConfig) -> None:
    encoder.save_pretrained(str(d))
    tokenizer.save_pretrained(str(d))
    write_json(d / HEAD_FILE, head.to_json())
    write_json(
        d / META_FILE,
        {"method": "setfit", "pooling": "mean", "normalize": True, "max_length": cfg.data.max_length},
    )


def load_setfit(run_dir: str | Path) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(encoder, tokenizer, head, meta) of a SetFit-style run; predict with
    `head.predict(embed(encoder, tokenizer, texts, meta["max_length"]))`."""
    from rawtune.artifacts.pretrained import load_task_model
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.tasks.contrastive import LogisticHead

    d = Path(run_dir) / "model"
    head = LogisticHead.from_json(json.loads((d / HEAD_FILE).read_text()))
    meta = json.loads((d / META_FILE).read_text())
    return load_task_model(str(d), "AutoModel"), load_tokenizer(str(d)), head, meta


FEWSHOT_METHODS.register("setfit")(FewshotMethod(run_setfit))
