"""Generation fixtures: a byte-level BPE tokenizer that holds every word of a small vocabulary as
one token, tiny T5 and GPT-2 models (2 layers, d_model 32) saved with save_pretrained, and JSONL
copy-task data (target == source)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

WORDS = ["red", "blue", "green", "cat", "dog", "bird", "sun", "moon", "tree", "rock", "fish", "star"]


def copy_rows(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 5)))
        rows.append({"source": text, "target": text})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def gen_tokenizer_dir(tmp_path_factory) -> Path:
    from rawtune.modeling.tokenizers import train_tokenizer

    root = tmp_path_factory.mktemp("gen-tok")
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(300)]
    lines += ["user: assistant: = ."] * 20
    (root / "text.txt").write_text("\n".join(lines) + "\n")
    train_tokenizer([str(root / "text.txt")], root / "tok", type="bpe", vocab_size=400, min_frequency=1)
    return root / "tok"


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory, gen_tokenizer_dir) -> Path:
    """A random 2-layer T5 (d_model 32) with the BPE tokenizer: starts from <pad>, stops at </s>."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(gen_tokenizer_dir))
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
    )
    out = tmp_path_factory.mktemp("t5") / "model"
    T5ForConditionalGeneration(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory, gen_tokenizer_dir) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(gen_tokenizer_dir))
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=128,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    out = tmp_path_factory.mktemp("gpt2") / "model"
    GPT2LMHeadModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def copy_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("copy")
    return {
        "train": write_jsonl(root / "train.jsonl", copy_rows(400, 1)),
        "dev": write_jsonl(root / "dev.jsonl", copy_rows(24, 2)),
    }


@pytest.fixture(scope="session")
def reply_data(tmp_path_factory) -> dict[str, Path]:
    """Prompt -> reply: the reply is the prompt's first word, twice."""
    root = tmp_path_factory.mktemp("reply")
    out = {}
    for split, n, seed in (("train", 300, 3), ("dev", 16, 4)):
        rows = [
            {"source": r["source"], "target": " ".join([r["source"].split()[0]] * 2)}
            for r in copy_rows(n, seed)
        ]
        out[split] = write_jsonl(root / f"{split}.jsonl", rows)
    return out


@pytest.fixture
def gen_config(tmp_path):
    """A FinetuneConfig dict for a generation task on a tiny model: gen_config(task, backbone, files, **sections)."""

    def make(task: str, backbone: Path | None, files: dict[str, Path], **sections) -> dict:
        cfg: dict = {
            "output": str(tmp_path / "run"),
            "seed": 1,
            "model": {"name_or_path": str(backbone)} if backbone else {},
            "task": {"name": task},
            "data": {"train": str(files["train"]), "dev": str(files["dev"]), "max_length": 32, "stride": 8},
            "generation": {"max_new_tokens": 8},
            "train": {
                "max_steps": 4,
                "batch_size": 16,
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
            cfg[key] = {**cfg.get(key, {}), **value}
        return cfg

    return make
