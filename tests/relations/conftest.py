"""Fixtures for the relation-extraction tests: the bundled synthetic sample (small sizes) and a
relations config on the tiny backbone."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def re_data(tmp_path_factory) -> dict[str, Path]:
    from rawtune.samples.synthetic_relations import write

    return write(tmp_path_factory.mktemp("relations"), sizes={"train": 60, "dev": 20, "test": 20})


@pytest.fixture
def re_config(tmp_path, tiny_backbone, re_data):
    def make(**sections):
        cfg = {
            "output": str(tmp_path / "run"),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "relations"},
            "data": {
                "train": str(re_data["train"]),
                "dev": str(re_data["dev"]),
                "max_length": 64,
                "stride": 8,
            },
            "train": {
                "max_steps": 8,
                "eval_steps": 4,
                "save_steps": 4,
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


def write_jsonl(path: Path, rows: list) -> Path:
    import json

    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path
