"""Plain fine-tuning as a few-shot method: the k-shot sample file is the training data of an ordinary
`rawtune finetune` run (floor: at least `floor_steps` optimizer steps), with the sample's record in
its manifest."""

from __future__ import annotations

import json
from typing import Any

from rawtune.config.fewshot import FewshotConfig
from rawtune.config.loader import load_config
from rawtune.fewshot.methods import FEWSHOT_METHODS, FewshotMethod, SeedSample


def finetune_config(cfg: FewshotConfig, seed: int, train: str, output: str) -> Any:
    """The `rawtune finetune` config of one few-shot run (also how the data files are read)."""
    d = cfg.data
    data = {
        "train": train,
        "dev": d.dev,
        "test": d.test,
        "max_length": d.max_length,
        "stride": min(32, d.max_length // 2 - 1),  # finetune's default, kept valid for short inputs
    }
    if cfg.task == "ner":
        task: dict[str, Any] = {"name": "ner"}
    else:
        task = {"name": "classification", "label_kind": "single"}
        data.update(text_column=d.text_column, label_column=d.label_column)
    return load_config(
        "finetune",
        base={
            "seed": seed,
            "output": output,
            "model": cfg.model.model_dump(),
            "task": task,
            "data": data,
            "train": cfg.finetune.model_dump(),
        },
    )


def run_finetune(s: SeedSample) -> dict[str, Any]:
    from rawtune.data.splits import at_least_steps
    from rawtune.finetuning.run import finetune

    ft = finetune_config(s.cfg, s.seed, s.kshot["file"], str(s.out))
    run = finetune(at_least_steps(ft, 1.0, s.kshot["examples"], s.cfg.floor_steps), resume=s.resume)
    run.update_manifest(kshot=s.kshot)
    return json.loads(run.metrics_json.read_text())


FEWSHOT_METHODS.register("finetune")(FewshotMethod(run_finetune))
