"""Synthetic SQuAD data for the QA tests: each context is a few sentences "<name> lives in <city> ."
with filler; the question asks where one of the names lives. Long contexts put the asked sentence
late, so its answer lies in a later window than the first."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

NAMES = ["anna", "boris", "carla", "dmitri", "elena", "felix", "greta", "hugo"]
CITIES = ["paris", "berlin", "madrid", "london", "vienna", "rome"]
FILLER = ["the", "report", "was", "clear", "and", "the", "study", "showed", "a", "result"]


def make_questions(n: int, seed: int, *, filler: int = 4, unanswerable: float = 0.0) -> list[dict]:
    """SQuAD-style question dicts {id, question, context, answers: [{text, answer_start}]}."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        names = rng.sample(NAMES, 3)
        parts, answer = [], None
        for name in names:
            parts.append(" ".join(rng.choices(FILLER, k=filler)) + " .")
            parts.append(f"{name} lives in {rng.choice(CITIES)} .")
        context = " ".join(parts)
        asked = rng.choice(names)
        if rng.random() < unanswerable:
            asked = rng.choice([x for x in NAMES if x not in names])
        else:
            sentence = next(p for p in parts if p.startswith(asked + " "))
            city = sentence.split()[3]
            answer = {"text": city, "answer_start": context.index(sentence) + len(asked) + len(" lives in ")}
        out.append(
            {
                "id": f"q{seed}-{i}",
                "question": f"where does {asked} live ?",
                "context": context,
                "answers": [answer] if answer else [],
                **({"is_impossible": answer is None} if unanswerable else {}),
            }
        )
    return out


def write_squad(path: Path, questions: list[dict], version: str = "1.1") -> Path:
    """One article, one paragraph per question (SQuAD JSON)."""
    paragraphs = [
        {"context": q["context"], "qas": [{k: v for k, v in q.items() if k != "context"}]} for q in questions
    ]
    path.write_text(json.dumps({"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


def write_jsonl(path: Path, questions: list[dict]) -> Path:
    """Hugging Face datasets' squad layout, one question per line."""
    rows = []
    for q in questions:
        answers = {
            "text": [a["text"] for a in q["answers"]],
            "answer_start": [a["answer_start"] for a in q["answers"]],
        }
        rows.append(
            json.dumps(
                {"id": q["id"], "question": q["question"], "context": q["context"], "answers": answers}
            )
        )
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="session")
def qa_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qa")
    return {
        "train": write_squad(root / "train.json", make_questions(64, 1)),
        "dev": write_squad(root / "dev.json", make_questions(24, 2)),
        "dev_jsonl": write_jsonl(root / "dev.jsonl", make_questions(24, 2)),
    }


@pytest.fixture
def qa_config(tmp_path, tiny_backbone, qa_data):
    """A qa fine-tuning config on the tiny backbone: short windows (contexts span several)."""

    def make(**sections):
        cfg = {
            "output": str(tmp_path / "run"),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "qa"},
            "data": {
                "train": str(qa_data["train"]),
                "dev": str(qa_data["dev"]),
                "max_length": 32,
                "stride": 8,
            },
            "train": {
                "max_steps": 12,
                "eval_steps": 6,
                "save_steps": 6,
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
