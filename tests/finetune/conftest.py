"""Fixtures for fine-tuning: the bundled synthetic NER sample (small), classification/pair tables,
and a tiny BERT backbone (2 layers, hidden 32) with a WordPiece tokenizer trained on that text."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ner_data(tmp_path_factory) -> dict[str, Path]:
    from rawtune.samples.synthetic_ner import write

    return write(tmp_path_factory.mktemp("ner"), sizes={"train": 64, "dev": 24, "test": 24})


POS = ["good", "great", "excellent", "lovely", "fine", "superb"]
NEG = ["bad", "awful", "poor", "terrible", "dull", "weak"]
NOUNS = ["film", "book", "meal", "hotel", "service", "show"]


def review(rng: random.Random, label: str) -> str:
    words = POS if label == "pos" else NEG
    return f"the {rng.choice(NOUNS)} was {rng.choice(words)} and {rng.choice(words)}"


@pytest.fixture(scope="session")
def cls_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cls")
    out = {}
    for split, n in (("train", 48), ("dev", 16)):
        rng = random.Random(split)
        path = root / f"{split}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "text", "label"])
            for i in range(n):
                label = "pos" if i % 2 else "neg"
                w.writerow([i, review(rng, label), label])
        out[split] = path
    return out


@pytest.fixture(scope="session")
def pair_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pairs")
    out = {}
    for split, n in (("train", 48), ("dev", 16)):
        rng = random.Random(split + "p")
        path = root / f"{split}.tsv"
        rows = ["text_a\ttext_b\tlabel"]
        for i in range(n):
            a = review(rng, "pos")
            same = i % 2 == 0
            b = a if same else review(rng, "neg")
            rows.append(f"{a}\t{b}\t{'same' if same else 'different'}")
        path.write_text("\n".join(rows) + "\n")
        out[split] = path
    return out


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory, ner_data) -> Path:
    """A randomly initialised 2-layer BERT saved with save_pretrained, tokenizer included."""
    import torch
    from transformers import BertConfig, BertModel

    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.modeling.tokenizers import train_tokenizer

    root = tmp_path_factory.mktemp("backbone")
    text = root / "text.txt"
    lines = [ner_data["raw"].read_text()]
    for split in ("dev", "test"):
        words = [ln.split()[0] for ln in ner_data[split].read_text().splitlines() if ln and ln[0] != "-"]
        lines.append(" ".join(words))
    rng = random.Random(0)
    lines += [review(rng, lab) for lab in ("pos", "neg") * 20]
    text.write_text("\n".join(lines) + "\n")
    train_tokenizer([str(text)], root / "tok", type="wordpiece", vocab_size=400, min_frequency=1)
    tok = load_tokenizer(str(root / "tok"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    out = root / "model"
    BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def ft_config(tmp_path, tiny_backbone):
    """A FinetuneConfig dict for the tiny backbone; tests add task and data."""

    def make(**sections):
        cfg = {
            "output": str(tmp_path / "run"),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "train": {
                "epochs": 2,
                "batch_size": 8,
                "lr": 3e-3,
                "eval_steps": 4,
                "save_steps": 4,
                "threads": 1,
                "progress": False,
                "log_steps": 1,
                "warmup_ratio": 0.0,
            },
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key] = {**cfg[key], **value}
            else:
                cfg[key] = value
        return cfg

    return make
