"""Shared fixtures. Tests never reach a model or dataset hub: HF_HUB_OFFLINE is set before transformers is imported."""

from __future__ import annotations

import atexit
import csv
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
# train.precision=auto measures this machine; the suite's numbers must not depend on it (the probe and
# the choice are tested on their own in tests/unit/test_precision.py)
os.environ.setdefault("RAWTUNE_PRECISION", "fp32")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Loading with trust_remote_code (a pruned model through plain transformers) copies the model's code
# into HF_MODULES_CACHE, ~/.cache/huggingface/modules by default. transformers reads the variable once,
# at import (transformers.utils.hub.HF_MODULES_CACHE, copied into dynamic_module_utils), so a
# per-test monkeypatch.setenv is too late: the whole session gets a temporary one here, removed at exit.
_modules_cache = tempfile.mkdtemp(prefix="rawtune-test-hf-modules-")
os.environ["HF_MODULES_CACHE"] = _modules_cache
atexit.register(shutil.rmtree, _modules_cache, ignore_errors=True)

# --- a tiny synthetic raw-text corpus -----------------------------------------------------------

COMMON_WORDS = [
    "the",
    "a",
    "patient",
    "doctor",
    "heart",
    "study",
    "result",
    "was",
    "were",
    "is",
    "of",
    "in",
    "with",
    "and",
    "to",
    "for",
    "after",
    "before",
    "during",
    "small",
    "large",
    "new",
    "old",
    "report",
    "test",
    "blood",
    "cell",
    "group",
    "treatment",
    "trial",
    "showed",
    "found",
    "clear",
    "risk",
    "high",
    "low",
    "early",
    "late",
    "first",
    "second",
    "each",
    "every",
    "many",
    "few",
    "most",
    "this",
    "that",
    "our",
    "their",
    "week",
    "day",
    "year",
]
RARE_WORDS = [
    "cardiomyopathy",
    "electroencephalography",
    "immunohistochemistry",
    "pharmacokinetics",
    "thrombocytopenia",
    "echocardiogram",
]
DOMAIN_WORD = "cardiomyopathy"  # in every 10th sentence: 20 times in 200, split by a ~300-piece vocabulary
SYLLABLES = ["ka", "lo", "mi", "tre", "su", "vin", "dor", "pa", "ne", "fis", "gal", "ru", "bem", "to", "quor"]


def make_sentences(n: int = 200, seed: int = 0) -> list[str]:
    """English-like sentences over common words plus ~150 made-up ones (so a ~300-piece vocabulary cannot
    hold every word); every 10th mentions DOMAIN_WORD, some others another rare word."""
    rng = random.Random(seed)
    made_up = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))) for _ in range(160)})
    out = []
    for i in range(n):
        words = [
            rng.choice(COMMON_WORDS if rng.random() < 0.6 else made_up) for _ in range(rng.randint(5, 12))
        ]
        if i % 10 == 0:
            words.insert(rng.randrange(len(words)), DOMAIN_WORD)
        elif rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(RARE_WORDS[1:]))
        out.append(" ".join(words).capitalize() + ".")
    return out


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus/part1.txt (120 sentences + 3 repeats + 4 blank lines) and corpus/sub/part2.txt (80 + 2 repeats)."""
    root = tmp_path_factory.mktemp("corpus")
    sentences = make_sentences()
    part1 = sentences[:120] + sentences[:3]
    for i in (10, 40, 41, 90):
        part1.insert(i, "")
    (root / "part1.txt").write_text("\n".join(part1) + "\n", encoding="utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "part2.txt").write_text(
        "\n".join([*sentences[120:], *sentences[5:7]]) + "\n", encoding="utf-8"
    )
    return root


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """WordPiece (BERT-style, uncased, ~300 pieces) trained on tiny_corpus_dir. Shared: do not mutate it;
    load a private copy with AutoTokenizer.from_pretrained(tiny_tokenizer.name_or_path)."""
    from rawtune.modeling.tokenizers import train_tokenizer

    out = tmp_path_factory.mktemp("tokenizers") / "wordpiece"
    return train_tokenizer([str(tiny_corpus_dir)], out, type="wordpiece", vocab_size=300)


@pytest.fixture(scope="session")
def tiny_bpe_tokenizer(tiny_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Byte-level BPE (RoBERTa-style <s> </s> <pad> <mask>, uncased, ~400 pieces); same sharing rule."""
    from rawtune.modeling.tokenizers import train_tokenizer

    out = tmp_path_factory.mktemp("tokenizers") / "bpe"
    return train_tokenizer([str(tiny_corpus_dir)], out, type="bpe", vocab_size=400)


# --- fine-tuning: the bundled synthetic NER sample (small), classification/pair tables, and a tiny
# BERT backbone (2 layers, hidden 32) with a WordPiece tokenizer trained on that text --------------


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


def fixed_vocab(tokenizer_json: Path, text: str, size: int) -> None:
    """Replace a trained WordPiece vocabulary by one made deterministically from `text`: the
    tokenizers library breaks frequency ties in hash-map order, which changes from one process to
    the next (huggingface/tokenizers#1794), so a trained tiny vocabulary — and every number a test
    measures on the tiny backbone — would differ between sessions. Special tokens keep their ids;
    then every character, every character as a continuation (##c), then whole words by frequency."""
    import json
    import re
    from collections import Counter

    data = json.loads(tokenizer_json.read_text())
    vocab = data["model"]["vocab"]
    specials = sorted((v, k) for k, v in vocab.items() if k.startswith("[") and k.endswith("]"))
    words = Counter(re.findall(r"\w+|[^\w\s]", text.lower()))
    chars = sorted({c for w in words for c in w})
    out = [k for _, k in specials] + chars + [f"##{c}" for c in chars]
    out += [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][
        : size - len(out)
    ]
    data["model"]["vocab"] = {tok: i for i, tok in enumerate(dict.fromkeys(out))}
    tokenizer_json.write_text(json.dumps(data, ensure_ascii=False))


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
    fixed_vocab(root / "tok" / "tokenizer.json", text.read_text(), 400)
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


# --- small fine-tuned runs shared by the compress and serve tests ---------------------------------------------


def tiny_ner_config(output: Path, backbone: Path, data: dict[str, Path], **sections: dict) -> dict:
    """A NER fine-tuning config on the tiny backbone (a few steps, one thread); each keyword updates
    that section (`tuning={"method": "prompt"}`, `train={"max_steps": 1}`)."""
    cfg: dict = {
        "output": str(output),
        "seed": 3,
        "model": {"name_or_path": str(backbone)},
        "task": {"name": "ner"},
        "data": {"train": str(data["train"]), "dev": str(data["dev"]), "max_length": 64, "stride": 16},
        "train": {"max_steps": 6, "eval_steps": 3, "save_steps": 3, "batch_size": 8, "lr": 3e-3},
    }
    cfg["train"].update(threads=1, progress=False)
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


@pytest.fixture
def ner_config(tiny_backbone, ner_data):
    """`tiny_ner_config` for the tiny backbone and the small NER sample: ner_config(output, **sections)."""
    return lambda output, **sections: tiny_ner_config(output, tiny_backbone, ner_data, **sections)


@pytest.fixture(scope="session")
def ner_run(tmp_path_factory, tiny_backbone, ner_data):
    """A finished tiny NER run (full fine-tuning, 6 steps): compress and serve tests read it."""
    from rawtune.stages.finetune import run_finetune

    return run_finetune(tiny_ner_config(tmp_path_factory.mktemp("ner-run") / "run", tiny_backbone, ner_data))


@pytest.fixture(scope="session")
def prompt_ner_run(tmp_path_factory, tiny_backbone, ner_data):
    """A tiny NER run tuned with a prompt adapter (no whole model of its own)."""
    from rawtune.stages.finetune import run_finetune

    out = tmp_path_factory.mktemp("prompt-run") / "run"
    return run_finetune(
        tiny_ner_config(out, tiny_backbone, ner_data, tuning={"method": "prompt"}, train={"max_steps": 1})
    )
