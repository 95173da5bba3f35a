"""`rawtune quickstart`: the whole recipe on the bundled sample, offline, in minutes on a laptop CPU:
the packaged `quickstart` pipeline preset (task-adaptive MLM on the raw training sentences -> NER
fine-tuning -> test evaluation), then predictions on new sentences."""

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


def run_quickstart(
    output: str = "runs/quickstart", model: str | None = None, overwrite: bool = False, progress: bool = True
) -> dict[str, Any]:
    """The packaged `quickstart` pipeline preset into `output`; a second call reuses the stages that
    are complete (`overwrite` starts again from nothing)."""
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
    data = yaml.safe_load(presets.text("quickstart"))
    data.update(output=str(root), model=model)
    pipe = Pipeline(validate_pipeline(data, "quickstart preset", {}), "quickstart preset")
    state = pipe.run(serve=False, progress=progress)
    ner = RunDir(root / "ner")
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
    }
