"""Fixtures for end-to-end runs: a small synthetic corpus, tokenizers trained on it, and the
options that make a 2-layer, hidden-32 model from a config (no hub, seconds per run)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

SUBJECTS = [
    "the analyst",
    "a trader",
    "the central bank",
    "the company",
    "shareholders",
    "the minister",
    "investors",
    "the union",
    "the court",
    "a spokesman",
]
VERBS = [
    "said",
    "expects",
    "reported",
    "denied",
    "announced",
    "raised",
    "cut",
    "approved",
    "rejected",
    "forecast",
]
OBJECTS = [
    "higher interest rates",
    "a quarterly dividend",
    "the takeover bid",
    "record profits",
    "lower oil prices",
    "the new contract",
    "a hostile acquisition",
    "stronger exports",
    "the merger agreement",
    "weaker demand",
]
PLACES = [
    "in London",
    "in Frankfurt",
    "on Monday",
    "on Tuesday",
    "in Tokyo",
    "last week",
    "in New York",
    "today",
]


def synthetic_lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)} ."
        for _ in range(n)
    ]


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("corpus") / "news.txt"
    f.write_text("\n".join(synthetic_lines(600)) + "\n")
    return f


@pytest.fixture(scope="session")
def wordpiece_dir(tmp_path_factory, corpus_file) -> Path:
    from rawtune.modeling.tokenizers import train_tokenizer

    out = tmp_path_factory.mktemp("tok") / "wordpiece"
    train_tokenizer([str(corpus_file)], out, type="wordpiece", vocab_size=200, min_frequency=1)
    return out


@pytest.fixture(scope="session")
def bpe_dir(tmp_path_factory, corpus_file) -> Path:
    from rawtune.modeling.tokenizers import train_tokenizer

    out = tmp_path_factory.mktemp("tok") / "bpe"
    train_tokenizer([str(corpus_file)], out, type="bpe", vocab_size=300, min_frequency=1)
    return out


@pytest.fixture
def tiny_args(tmp_path, corpus_file, wordpiece_dir):
    """Config overrides for a tiny BERT from scratch; tests add output and step counts."""

    def make(**extra):
        base = {
            "model.init": "scratch",
            "model.arch": "bert",
            "model.layers": 2,
            "model.hidden": 32,
            "model.heads": 2,
            "model.intermediate": 64,
            "tokenizer.path": str(wordpiece_dir),
            "data.corpus": [str(corpus_file)],
            "data.seq_len": 32,
            "data.cache_dir": str(tmp_path / "cache"),
            "train.batch_size": 8,
            "train.lr": 2e-3,
            "train.threads": 1,
            "train.progress": False,
            "train.log_steps": 1,
            "seed": 7,
        }
        base.update(extra)
        return base

    return make


def _as_flags(overrides: dict) -> list[str]:
    flags = []
    for k, v in overrides.items():
        if isinstance(v, list):
            v = "[" + ", ".join(str(x) for x in v) + "]"
        elif isinstance(v, bool):
            v = str(v).lower()
        elif v is None:
            v = "null"
        flags.append(f"--{k}={v}")
    return flags


@pytest.fixture
def as_flags():
    """Overrides dict -> `--key=value` CLI flags."""
    return _as_flags
