"""`rawtune quickstart`: the whole recipe on the bundled sample, offline, in minutes on a laptop CPU:
the packaged `quickstart` pipeline preset (task-adaptive MLM on the raw training sentences -> NER
fine-tuning -> test evaluation), then predictions on new sentences. With `compare`, the packaged
`raw-text-pick` preset on the same sample, at a budget of minutes: plain fine-tuning, adapted
pretraining, self-training and both compared on dev, the best kept (and used for the predictions)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from rawtune.runs.rundir import RunDir

log = logging.getLogger("rawtune")

EXAMPLES = [
    "Maria Lopez flew from Paris to Nairobi to meet the World Health Organization team.",
    "Shares of Quantum Grid rose 4 percent in Seoul on Tuesday, Yuki Sato said.",
    "The Dutch cyclist won the Grand Prix in Vienna.",
]
# the sample's fine-tuning (the `quickstart` preset's) for every option of `raw-text-pick`
SAMPLE_TRAIN = {"epochs": 6, "batch_size": 16, "lr": 1.0e-4, "eval_steps": 15, "save_steps": 15}


def run_quickstart(
    output: str = "runs/quickstart",
    model: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    compare: bool = False,
) -> dict[str, Any]:
    """The packaged `quickstart` pipeline preset (or, with `compare`, `raw-text-pick` on the sample)
    into `output`; a second call reuses the stages that are complete (`overwrite` starts again from
    nothing)."""
    import yaml

    from rawtune.artifacts.run import load_run
    from rawtune.errors import RunDirError
    from rawtune.pipeline import presets
    from rawtune.pipeline.runner import Pipeline
    from rawtune.pipeline.spec import validate_pipeline

    root = Path(output)
    if root.exists() and any(root.iterdir()):
        if overwrite:
            shutil.rmtree(root)
        elif not (root / "pipeline.json").is_file():
            raise RunDirError(
                f"{root} exists and is not a quickstart; pass --overwrite to replace it or --output"
            )
    name = "raw-text-pick" if compare else "quickstart"
    data = yaml.safe_load(presets.text(name))
    data.update(output=str(root), model=model)
    if compare:
        on_the_sample(data)
    pipe = Pipeline(validate_pipeline(data, f"{name} preset", {}), f"{name} preset")
    state = pipe.run(serve=False, progress=progress)
    final = (
        Path(json.loads((root / "pick" / "choice.json").read_text())["winner"]["run"]) if compare else None
    )
    ner = RunDir(final or root / "ner")
    log.info("predictions on new sentences")
    predictions = load_run(ner.path).predict(EXAMPLES)
    metrics = json.loads(ner.metrics_json.read_text())
    return {
        "pretrain": root / "tapt",
        "ner": ner.path,
        "metrics": metrics,
        "predictions": predictions,
        "skipped": [s["name"] for s in state["stages"] if s["skipped"]],
        "report": root / "report.html",
        "choice": json.loads((root / "pick" / "choice.json").read_text()) if compare else None,
    }


def on_the_sample(data: dict[str, Any]) -> None:
    """`raw-text-pick` on the bundled sample at a quickstart's budget: its unlabeled sentences are
    the raw text, its training sentences the task's own; short blocks, a short adaptation, the
    quickstart's fine-tuning."""
    stages = {s["name"]: s for s in data["stages"]}
    stages["data"]["config"] = {"sample": "synthetic-ner"}  # train, dev, test; raw: train's text
    stages["dapt"]["config"].update(
        data={"corpus": ["${data.unlabeled}"], "seq_len": 64, "validation_split": 0.1},
        head_warmup={"max_steps": 60, "eval_steps": 10},
        train={"max_steps": 30, "batch_size": 16, "eval_steps": 15, "save_steps": 15},
    )
    stages["tapt"]["config"].update(
        data={"corpus": ["${data.raw}"], "seq_len": 64, "validation_split": 0.1},
        train={"max_steps": 20, "batch_size": 16, "eval_steps": 10, "save_steps": 10},
    )
    for name in ("plain", "adapted", "selftrain", "both"):
        cfg = stages[name]["config"]
        cfg["train"] = dict(SAMPLE_TRAIN)
        if "unlabeled" in cfg:
            cfg.update(unlabeled=["${data.unlabeled}"], max_unlabeled=400)
