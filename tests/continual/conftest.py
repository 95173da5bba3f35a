"""Two phases of the synthetic NER data: phase 1 without ORG (its tags set to O), phase 2 with it."""

from __future__ import annotations

from pathlib import Path

import pytest


def drop_type(src: Path, dst: Path, kind: str) -> Path:
    lines = []
    for line in src.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1][2:] == kind:
            line = f"{parts[0]} O"
        lines.append(line)
    dst.write_text("\n".join(lines) + "\n")
    return dst


@pytest.fixture(scope="session")
def phases(tmp_path_factory, ner_data) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("phases")
    return {
        "train1": drop_type(ner_data["train"], d / "train1.conll", "ORG"),
        "dev1": drop_type(ner_data["dev"], d / "dev1.conll", "ORG"),
        "train2": ner_data["train"],
        "dev2": ner_data["dev"],
    }


@pytest.fixture(scope="session")
def phase1_run(tmp_path_factory, tiny_backbone, phases):
    """A finished tiny NER run on phase 1 (no ORG)."""
    from rawtune.stages.finetune import run_finetune

    out = tmp_path_factory.mktemp("phase1") / "v1"
    cfg = {
        "output": str(out),
        "seed": 3,
        "model": {"name_or_path": str(tiny_backbone)},
        # sentences alone and no word shapes: with them the tiny model fits phase 1 so closely that
        # its loss gradients, the EWC Fisher, all but vanish and the penalty tests would measure nothing
        "task": {"name": "ner", "case_features": False},
        "data": {"train": str(phases["train1"]), "dev": str(phases["dev1"]), "max_length": 64, "stride": 16,
                 "doc_context": False},
        "train": {"max_steps": 40, "eval_steps": 20, "save_steps": 20, "batch_size": 8, "lr": 1e-2},
    }  # fmt: skip
    cfg["train"].update(threads=1, progress=False)
    return run_finetune(cfg).path


@pytest.fixture
def continual_config():
    """continual_config(previous, output, phases, **sections): a tiny continual config."""
    return _continual_config


def _continual_config(previous: Path, output: Path, phases: dict[str, Path], **sections) -> dict:
    cfg: dict = {
        "previous": str(previous),
        "output": str(output),
        "seed": 1,
        "data": {"new": str(phases["train2"]), "dev": str(phases["dev2"])},
        "train": {"max_steps": 6, "eval_steps": 3, "save_steps": 3, "batch_size": 8, "lr": 3e-3},
    }
    cfg["train"].update(threads=1, progress=False)
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


@pytest.fixture(scope="session")
def cls_phase1(tmp_path_factory, tiny_backbone, cls_data):
    """A finished tiny classification run that has learned the separable reviews."""
    from rawtune.stages.finetune import run_finetune

    out = tmp_path_factory.mktemp("cls-phase1") / "v1"
    cfg = {
        "output": str(out),
        "seed": 0,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "classification"},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32, "stride": 8},
        "train": {"epochs": 15, "eval_steps": 1000, "save_steps": 1000, "batch_size": 8, "lr": 3e-3},
    }
    cfg["train"].update(threads=1, progress=False)
    return run_finetune(cfg).path


@pytest.fixture(scope="session")
def flipped_train(tmp_path_factory, cls_data) -> Path:
    """The training reviews with every label swapped: new data that contradicts what was learned."""
    text = cls_data["train"].read_text()
    text = text.replace(",pos", ",TMP").replace(",neg", ",pos").replace(",TMP", ",neg")
    dst = tmp_path_factory.mktemp("flipped") / "flipped.csv"
    dst.write_text(text)
    return dst
