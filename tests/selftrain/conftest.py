"""Raw text for self-training tests (news-style sentences with the NER sample's training names, two
per line; short reviews for classification) and a config builder on the tiny backbone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

TRAIN = {"batch_size": 8, "lr": 3e-3, "threads": 1, "progress": False, "log_steps": 1, "warmup_ratio": 0.0}


@pytest.fixture(scope="session")
def raw_ner(tmp_path_factory) -> Path:
    from rawtune.samples.synthetic_ner import sentence

    rng = random.Random("raw")
    sents = [" ".join(w for w, _ in sentence(rng, "train")) for _ in range(80)]
    path = tmp_path_factory.mktemp("raw") / "news.txt"
    path.write_text("\n".join(f"{a} {b}" for a, b in zip(sents[::2], sents[1::2])) + "\n")
    return path


@pytest.fixture(scope="session")
def raw_cls(tmp_path_factory) -> Path:
    # the reviews of the classification sample (tests/conftest.py), new ones
    good, bad = ["good", "great", "excellent", "lovely", "fine", "superb"], ["bad", "awful", "poor", "dull"]
    nouns = ["film", "book", "meal", "hotel", "service", "show"]
    rng = random.Random("raw-cls")
    lines = [
        f"the {rng.choice(nouns)} was {rng.choice(words)} and {rng.choice(words)}"
        for words in (good, bad) * 30
    ]
    path = tmp_path_factory.mktemp("raw") / "reviews.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def st_config(tmp_path, tiny_backbone, ner_data, cls_data, raw_ner, raw_cls):
    """A selftrain config dict for the tiny backbone: st_config("ner" | "classification", **sections)."""

    def make(kind: str = "ner", steps: int = 30, **sections) -> dict:
        ner = kind == "ner"
        data = ner_data if ner else cls_data
        cfg: dict = {
            "output": str(tmp_path / "st"),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": kind},
            "data": {"train": str(data["train"]), "dev": str(data["dev"]), "max_length": 64, "stride": 16},
            "train": {**TRAIN, "max_steps": steps, "eval_steps": steps, "save_steps": max(1, steps // 2)},
            "unlabeled": [str(raw_ner if ner else raw_cls)],
            "select": {"threshold": 0.1 if ner else 0.5},
        }
        for key, value in sections.items():
            cfg[key] = (
                {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
            )
        return cfg

    return make
