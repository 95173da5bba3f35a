"""Shared fixtures. Tests never reach a model or dataset hub: HF_HUB_OFFLINE is set before any import."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import random
from pathlib import Path

import pytest

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
