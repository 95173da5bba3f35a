"""Synthetic SQuAD data for the QA tests: each context is a few sentences "<name> lives in <city> ."
with filler; the question asks where one of the names lives (or, for SQuAD v2, someone who is not
there). A context is ~30 words: longer than the tests' 32-token windows, so it spans several."""

from __future__ import annotations

import json
import random
from pathlib import Path

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
