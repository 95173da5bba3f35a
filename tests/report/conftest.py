"""Fixtures for the report tests: a hand-made pipeline root (see report_fakes for the run files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fakes import fake_compress, fake_curve, fake_finetune, fake_pretrain, write_json

# (name, kind, sources, status) as pipeline/runner.py records them: `parent` is the first source;
# `base` is the pipeline's model, not a stage
STAGES = [
    ("dapt", "pretrain", [], "complete"),
    ("tapt", "pretrain", ["dapt"], "complete"),
    ("ner", "finetune", ["tapt"], "complete"),
    ("ner-base", "finetune", [], "skipped"),
    ("ner-int8", "compress", ["ner"], "complete"),
    ("curve", "learning_curve", ["base", "tapt"], "complete"),
    ("serve", "serve", ["ner-int8"], "pending"),
]


@pytest.fixture
def pipeline_root(tmp_path: Path) -> Path:
    """A pipeline root: dapt → tapt → ner → ner-int8, a baseline fine-tune, a learning curve and a
    stage that has not run (no directory)."""
    root = tmp_path / "pipe"
    fake_pretrain(root / "dapt", loss=3.5)
    fake_pretrain(root / "tapt", loss=3.1)
    fake_finetune(root / "ner", f1=0.8123, parent=str(root / "tapt"))
    fake_finetune(root / "ner-base", f1=0.7456)
    fake_compress(root / "ner-int8", root / "ner")
    fake_curve(root / "curve")
    stages = [
        {
            "name": n,
            "kind": k,
            "run": n,
            "parent": (src or [None])[0],
            "sources": src,
            "status": s,
            "skipped": s == "skipped",
            "seconds": 12.3 if s != "pending" else None,
            "fingerprint": "ab12",
        }
        for n, k, src, s in STAGES
    ]
    write_json(root / "pipeline.json", {"name": "dapt-tapt-ner", "status": "complete", "stages": stages})
    return root
