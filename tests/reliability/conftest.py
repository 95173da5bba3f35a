"""Fixtures of the reliability suite: the CLI flags of each stage config the kill/resume cases use,
one uninterrupted reference run per stage (made once per session), and `figures`, which collects
what each case measured for benchmarks/reliability_report.py (written where RAWTUNE_RELIABILITY_OUT
points, when set)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # cases.py and harness.py, without a package

from cases import SAVE_EVERY, TOTAL_STEPS

from harness import cli

_FIGURES: list[dict] = []


@pytest.fixture
def figures():
    """figures(kind, **measured): one record for the report (kill, corruption, bad_input, artifact, server)."""

    def add(kind: str, **data):
        _FIGURES.append({"kind": kind, **data})

    return add


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("RAWTUNE_RELIABILITY_OUT")
    if out:
        Path(out).write_text(json.dumps(_FIGURES, indent=1) + "\n")


_TRAIN = [
    f"--train.max_steps={TOTAL_STEPS}",
    f"--train.save_steps={SAVE_EVERY}",
    f"--train.eval_steps={SAVE_EVERY}",
    "--train.keep_last=2",
    "--train.keep_checkpoints=2",  # tests damage a finished run's checkpoints
    "--train.log_steps=1",
    "--train.threads=1",
    "--train.progress=false",
]


@pytest.fixture(scope="session")
def stage_flags(tmp_path_factory, tiny_corpus_dir, tiny_tokenizer, tiny_backbone, ner_data, cls_data):
    """{stage: the command line of that stage without --output}."""
    cache = tmp_path_factory.mktemp("corpus-cache")
    mlm = [
        "pretrain",
        "--model.init=scratch",
        "--model.arch=bert",
        "--model.layers=2",
        "--model.hidden=32",
        "--model.heads=2",
        "--model.intermediate=64",
        f"--tokenizer.path={tiny_tokenizer.name_or_path}",
        f"--data.corpus=[{tiny_corpus_dir}]",
        "--data.seq_len=32",
        f"--data.cache_dir={cache}",
        "--train.batch_size=8",
        "--train.lr=2e-3",
        "--seed=7",
        *_TRAIN,
    ]
    ner = [
        "finetune",
        "--task=ner",
        f"--model={tiny_backbone}",
        f"--train={ner_data['train']}",
        f"--dev={ner_data['dev']}",
        "--seed=5",
        "--train.batch_size=4",
        "--train.lr=3e-3",
        *_TRAIN,
    ]
    cls = [
        "finetune",
        "--task=classification",
        f"--model={tiny_backbone}",
        f"--train={cls_data['train']}",
        f"--dev={cls_data['dev']}",
        "--seed=5",
        "--train.batch_size=4",
        "--train.grad_accum=2",  # the data position counts micro-batches
        "--train.lr=3e-3",
        *_TRAIN,
    ]
    lora = [*ner, "--tuning.method=lora", "--train.lr=1e-2"]
    return {"mlm": mlm, "ner": ner, "cls": cls, "ner-lora": lora}


@pytest.fixture(scope="session")
def reference(tmp_path_factory, stage_flags):
    """reference(stage) -> an uninterrupted, finished run of that stage (made on first use)."""
    made: dict[str, Path] = {}

    def get(stage: str) -> Path:
        if stage not in made:
            out = tmp_path_factory.mktemp("reference") / stage
            done = cli(*stage_flags[stage], f"--output={out}")
            assert done.returncode == 0, done.stderr[-3000:]
            made[stage] = out
        return made[stage]

    return get
