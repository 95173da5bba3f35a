"""What the few-shot methods that train share: the run of one seed (OUTPUT/seed-N, with the config
that reproduces this one run), its manifest, the final scores, the evaluation reports and the
summary. They train through the run skeleton (`train.run`)."""

from __future__ import annotations

from typing import Any

from rawtune.fewshot.methods import SeedSample
from rawtune.runs.rundir import RunDir
from rawtune.train.run import TrainingRun


def backbone(cfg: Any) -> tuple[Any, Any]:
    """(where the model comes from, its tokenizer)."""
    from rawtune.modeling.backbone import load_tokenizer, resolve

    src = resolve(cfg.model.name_or_path)
    return src, load_tokenizer(src.ref, cfg.model)


def open_seed_run(s: SeedSample, train: Any) -> TrainingRun:
    """OUTPUT/seed-N, new, or with `resume` the existing one after checking it was made with this
    config; its config.yaml is the study's with this seed alone."""
    one = s.cfg.model_copy(update={"seed": s.seed, "seeds": 1, "output": str(s.out)})
    return TrainingRun.open(one, train, resume=s.resume)


def seed_manifest(s: SeedSample, method: str, src: Any) -> dict[str, Any]:
    return {
        "stage": "fewshot",
        "method": method,
        "task": "classification",
        "parent": src.parent_run,
        "model_source": {"ref": src.ref, "kind": src.kind},
        "labels": list(s.space.labels),
        "kshot": s.kshot,
        "data": {k: {"file": v.file, "examples": len(v.examples)} for k, v in s.splits.items()},
    }


def final_scores(result: Any, splits: dict[str, Any], score: Any) -> dict[str, Any]:
    """Dev and test metrics of the final weights: the loop's last evaluation when it scored these
    very weights, else `score(data)`."""
    st = result.state
    final: dict[str, Any] = {}
    if result.after is not None and st["best_step"] in (None, st["step"]):
        final["dev"] = result.after
    for split in ("dev", "test"):
        if split in splits and split not in final:
            final[split] = score(splits[split])
    return final


def seed_summary(
    method: str, final: dict[str, Any], result: Any, train: dict[str, Any], kshot: dict[str, Any]
) -> dict[str, Any]:
    """metrics.json of one seed; `train`: the method's counts before the loop's steps and time."""
    st = result.state
    return {
        "task": "classification",
        "method": method,
        **final,
        "train": {
            **train,
            "steps": st["step"],
            "train_seconds": st["train_seconds"],
            "resumed_from": result.resumed_from,
        },
        "kshot": kshot,
    }


def write_reports(
    run: RunDir, final: dict[str, Any], splits: dict[str, Any], model_ref: str, method: str
) -> None:
    from rawtune.finetuning.reports import write_split_reports

    write_split_reports(run, final, splits, "classification", f"fewshot {method}", model_ref)
