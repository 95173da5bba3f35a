"""Plain fine-tuning as a few-shot method: the k-shot sample file is the training data of an ordinary
`rawtune finetune` run (floor: at least `floor_steps` optimizer steps), with the sample's record in
its manifest."""

from __future__ import annotations

import json
from typing import Any

from rawtune.config.fewshot import finetune_config
from rawtune.fewshot.methods import FEWSHOT_METHODS, FewshotMethod, SeedSample


def run_finetune(s: SeedSample) -> dict[str, Any]:
    from rawtune.data.splits import at_least_steps
    from rawtune.finetuning.run import finetune

    ft = finetune_config(s.cfg, s.seed, s.kshot["file"], str(s.out))
    run = finetune(at_least_steps(ft, 1.0, s.kshot["examples"], s.cfg.floor_steps), resume=s.resume)
    run.update_manifest(kshot=s.kshot)
    return json.loads(run.metrics_json.read_text())


FEWSHOT_METHODS.register("finetune")(FewshotMethod(run_finetune))
