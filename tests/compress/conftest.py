"""A small fine-tuned NER run to compress (2-layer BERT, a few steps)."""

from __future__ import annotations

import pytest

from rawtune.stages.finetune import run_finetune


@pytest.fixture(scope="session")
def ner_run(tmp_path_factory, tiny_backbone, ner_data):
    out = tmp_path_factory.mktemp("parent") / "run"
    cfg = {
        "output": str(out),
        "seed": 3,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "ner"},
        "data": {
            "train": str(ner_data["train"]),
            "dev": str(ner_data["dev"]),
            "max_length": 64,
            "stride": 16,
        },
        "train": {
            "max_steps": 6,
            "eval_steps": 3,
            "save_steps": 3,
            "batch_size": 8,
            "lr": 3e-3,
            "threads": 1,
        },
    }
    return run_finetune(cfg)
