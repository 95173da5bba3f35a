"""Fixtures for the QA tests: synthetic SQuAD files (see squad_fakes) and a qa config on the tiny
backbone."""

from __future__ import annotations

from pathlib import Path

import pytest
from squad_fakes import make_questions, write_jsonl, write_squad


@pytest.fixture(scope="session")
def qa_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qa")
    return {
        "train": write_squad(root / "train.json", make_questions(64, 1)),
        "dev": write_squad(root / "dev.json", make_questions(24, 2)),
        "dev_jsonl": write_jsonl(root / "dev.jsonl", make_questions(24, 2)),
    }


@pytest.fixture
def qa_config(tmp_path, tiny_backbone, qa_data):
    """A qa fine-tuning config on the tiny backbone: short windows (contexts span several)."""

    def make(**sections):
        cfg = {
            "output": str(tmp_path / "run"),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "qa"},
            "data": {
                "train": str(qa_data["train"]),
                "dev": str(qa_data["dev"]),
                "max_length": 32,
                "stride": 8,
            },
            "train": {
                "max_steps": 12,
                "eval_steps": 6,
                "save_steps": 6,
                "batch_size": 16,
                "lr": 3e-3,
                "threads": 1,
                "progress": False,
                "warmup_ratio": 0.0,
            },
        }
        for key, value in sections.items():
            cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
        return cfg

    return make
