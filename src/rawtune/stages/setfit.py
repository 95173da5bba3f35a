"""One SetFit-style few-shot run: the sentence encoder trained on contrastive pairs of the k-shot
sample by `train.fit.fit` (the loop finetune uses, with `tasks.contrastive.CosinePairLoss` as the
objective), then a logistic-regression head on its embeddings. RUN/model/ is the encoder
(AutoModel.from_pretrained loads it) with its tokenizer, fewshot_head.json (the head's numbers) and
fewshot.json (how to embed: mean pooling, L2-normalised)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from rawtune.config.fewshot import FewshotConfig
from rawtune.config.loader import dump_config
from rawtune.runs.atomic import write_json
from rawtune.runs.rundir import RunDir

log = logging.getLogger("rawtune")
HEAD_FILE, META_FILE = "fewshot_head.json", "fewshot.json"


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


def _train(
    cfg: FewshotConfig,
    seed: int,
    encoder: Any,
    tokenizer: Any,
    sample: list[Any],
    run: RunDir,
    score,
    dev,
    resume: bool,
):
    from rawtune.data.batching import ShuffledBatches
    from rawtune.modeling.tokenizers import pad_id
    from rawtune.stages.common import config_fingerprint, make_accelerator
    from rawtune.tasks.contrastive import CosinePairLoss, PairCollator, make_pairs
    from rawtune.train.fit import fit

    train_cfg = cfg.setfit.train
    ids = tokenizer([ex.text for ex in sample], truncation=True, max_length=cfg.data.max_length)["input_ids"]
    cap = cfg.setfit.max_pairs - cfg.setfit.max_pairs % 2  # whole (positive, negative) couples
    pairs = make_pairs([ex.label for ex in sample], cfg.setfit.iterations, seed)[:cap]
    features = [{"a": ids[i], "b": ids[j], "target": t} for i, j, t in pairs]
    collate = PairCollator(pad_id(tokenizer))
    stream = ShuffledBatches(
        features,
        train_cfg.batch_size,
        lambda samples, _ids, _epoch: collate(samples),
        seed,
        lengths=[len(f["a"]) + len(f["b"]) for f in features],
    )
    accelerator = make_accelerator(train_cfg)
    log.info("setfit: %d pairs (%d rounds) from %d examples", len(pairs), cfg.setfit.iterations, len(sample))
    data_hash = hashlib.sha256(repr(pairs).encode() + repr(ids).encode()).hexdigest()[:16]
    return fit(
        CosinePairLoss(encoder),
        stream,
        cfg=train_cfg,
        run=run,
        accelerator=accelerator,
        seed=seed,
        evaluate=(lambda m: score(accelerator.unwrap_model(m).model, dev)) if dev is not None else None,
        fingerprint={"config": config_fingerprint(cfg), "data": data_hash},
        resume=resume,
        select=("macro_f1", True),
    )


def run_setfit(
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
    from transformers import AutoModel

    from rawtune.logs import setup_logging
    from rawtune.modeling.backbone import load_pretrained, load_tokenizer, resolve
    from rawtune.stages.common import records_failure

    src = resolve(cfg.model.name_or_path)
    tokenizer = load_tokenizer(src.ref, cfg.model)
    torch.manual_seed(seed)
    encoder = load_pretrained(src, AutoModel, cfg.model)
    run = create_run(cfg, seed, out, "setfit", src, list(space.labels), kshot, splits, resume=resume)
    setup_logging(run.logs_dir / "train.log")
    fit_head, score = _scorer(tokenizer, sample, cfg, seed, space)
    with records_failure(run):
        result = _train(cfg, seed, encoder, tokenizer, sample, run, score, splits.get("dev"), resume)
        encoder.to("cpu")
        final: dict[str, Any] = {}
        st = result.state
        if result.after is not None and st["best_step"] in (None, st["step"]):
            final["dev"] = result.after  # the loop's last evaluation scored these very weights
        for split in ("dev", "test"):
            if split in splits and split not in final:
                final[split] = score(encoder, splits[split])
        head = fit_head(encoder)  # the head on the final embeddings (the same fit the scores used)
        _save(run, encoder, tokenizer, head, cfg)
        write_reports(run, final, splits, src.ref)
    summary = {
        "task": "classification",
        "method": "setfit",
        **final,
        "train": {
            "examples": len(sample),
            "pairs": st.get("samples_seen"),
            "steps": st["step"],
            "train_seconds": st["train_seconds"],
            "resumed_from": result.resumed_from,
        },
        "kshot": kshot,
    }
    run.finish(summary)
    return summary


def create_run(
    cfg: FewshotConfig,
    seed: int,
    out: Path,
    method: str,
    src: Any,
    labels: list[str],
    kshot: dict,
    splits: dict,
    *,
    resume: bool = False,
) -> RunDir:
    """OUTPUT/seed-N with the config that reproduces this one run and the manifest (k-shot lines);
    with `resume`, the existing one after checking it was made with this config."""
    from rawtune.stages.common import check_resume_config

    one = cfg.model_copy(update={"seed": seed, "seeds": 1, "output": str(out)})
    if resume:
        run = RunDir(out)
        check_resume_config(run, one)
        return run
    return RunDir.create(
        out,
        dump_config(one),
        {
            "stage": "fewshot",
            "method": method,
            "task": "classification",
            "parent": src.parent_run,
            "model_source": {"ref": src.ref, "kind": src.kind},
            "labels": labels,
            "kshot": kshot,
            "data": {k: {"file": v.file, "examples": len(v.examples)} for k, v in splits.items()},
        },
    )


def _save(run: RunDir, encoder: Any, tokenizer: Any, head: Any, cfg: FewshotConfig) -> None:
    encoder.save_pretrained(str(run.model_dir))
    tokenizer.save_pretrained(str(run.model_dir))
    write_json(run.model_dir / HEAD_FILE, head.to_json())
    write_json(
        run.model_dir / META_FILE,
        {"method": "setfit", "pooling": "mean", "normalize": True, "max_length": cfg.data.max_length},
    )


def write_reports(
    run: RunDir, final: dict[str, Any], splits: dict[str, Any], model_ref: str, method: str = "setfit"
) -> None:
    from rawtune.evaluation.report import write_report

    history = run.read_metrics()
    for split, metrics in final.items():
        data = splits[split]
        write_report(
            run.eval_dir / split,
            task="classification",
            metrics=metrics,
            title=f"fewshot {method} — {split} ({Path(data.file).name})",
            history=history,
            meta={"model": model_ref, "data": data.file, "examples": len(data.examples)},
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
