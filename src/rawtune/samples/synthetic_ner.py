"""Writes the bundled NER sample: short news-style sentences with PER, ORG, LOC and MISC entities,
composed from templates and name lists written for rawtune (no third-party text, free to ship).
Dev and test use names never seen in training, so the score measures generalisation, not recall
of a name list. Deterministic: `python -m rawtune.samples.synthetic_ner OUT_DIR` rebuilds the files.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

PER = {
    "train": [
        "Maria Lopez",
        "John Carter",
        "Aiko Tanaka",
        "Pierre Dubois",
        "Fatima Haddad",
        "Lars Berg",
        "Chen Wei",
        "Olga Ivanova",
        "Samuel Okafor",
        "Anna Kowalska",
        "David Miller",
        "Sofia Rossi",
        "Ravi Patel",
        "Emma Schultz",
        "Tomás Silva",
        "Grace Kim",
        "Ahmed Nasser",
        "Helen Brooks",
    ],
    "dev": ["Nora Lindqvist", "Kenji Mori", "Paolo Conti", "Amara Diallo", "Victor Hale", "Ines Moreau"],
    "test": ["Lucia Ferraro", "Omar Khalil", "Hannah Weiss", "Diego Ramos", "Yuki Sato", "Peter Novak"],
}
ORG = {
    "train": [
        "Northwind Bank",
        "Apex Motors",
        "the United Nations",
        "Blue River Energy",
        "Helios Labs",
        "the World Health Organization",
        "Granite Insurance",
        "Sterling Airways",
        "Orion Telecom",
        "Maple Foods",
        "the Central Bank",
        "Vertex Software",
        "Atlas Mining",
        "Crescent Media",
    ],
    "dev": ["Silverline Rail", "Nova Pharma", "Redwood Capital", "the Red Cross", "Summit Steel"],
    "test": ["Harbor Logistics", "Quantum Grid", "Evergreen Paper", "the European Commission", "Falcon Air"],
}
LOC = {
    "train": [
        "Paris",
        "Nairobi",
        "Toronto",
        "Osaka",
        "Lima",
        "Berlin",
        "Cairo",
        "Madrid",
        "Sydney",
        "Mumbai",
        "Oslo",
        "Chicago",
        "Brazil",
        "Germany",
        "Kenya",
        "Canada",
        "Japan",
        "Peru",
    ],
    "dev": ["Lisbon", "Hanoi", "Denver", "Morocco", "Chile", "Vienna"],
    "test": ["Dublin", "Seoul", "Accra", "Norway", "Mexico", "Prague"],
}
MISC = {
    "train": [
        "French",
        "Japanese",
        "German",
        "Olympic",
        "Christmas",
        "Nobel Prize",
        "World Cup",
        "Euro",
        "Canadian",
        "Kenyan",
    ],
    "dev": ["Peruvian", "Grand Prix", "Dutch"],
    "test": ["Chilean", "Oscar", "Irish"],
}
TEMPLATES = [
    "{PER} met officials from {ORG} in {LOC} on Monday .",
    "{ORG} said its profit rose in {LOC} last quarter .",
    "Shares of {ORG} fell after {PER} resigned .",
    "{PER} , a spokesman for {ORG} , declined to comment .",
    "The {MISC} team arrived in {LOC} for the final .",
    "{PER} won the {MISC} after a long career .",
    "Heavy rain closed roads across {LOC} on Tuesday .",
    "{ORG} opened a new office in {LOC} .",
    "{PER} told reporters in {LOC} that talks would continue .",
    "Police in {LOC} arrested two men on Friday .",
    "{ORG} and {ORG} agreed to merge , {PER} said .",
    "The {MISC} market was quiet ahead of the holiday .",
    "{PER} will visit {LOC} next week .",
    "Analysts expect {ORG} to report higher sales .",
    "Prices rose sharply in {LOC} , the report said .",
    "{PER} and {PER} signed the deal in {LOC} .",
    "Fans celebrated the {MISC} victory in {LOC} .",
    "The minister said the plan would help farmers .",
    "{ORG} hired {PER} as chief executive .",
    "Flights between {LOC} and {LOC} were cancelled .",
]


def _tokens(phrase: str, kind: str) -> list[tuple[str, str]]:
    words = phrase.split()
    if words[0] == "the":  # "the United Nations": the article is outside the entity, as in CoNLL
        return [("the", "O"), *_tokens(" ".join(words[1:]), kind)]
    return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)]


def sentence(rng: random.Random, split: str) -> list[tuple[str, str]]:
    lists = {"PER": PER, "ORG": ORG, "LOC": LOC, "MISC": MISC}
    out: list[tuple[str, str]] = []
    for word in rng.choice(TEMPLATES).split():
        kind = word.strip("{}") if word.startswith("{") else None
        if kind:
            out += _tokens(rng.choice(lists[kind][split]), kind)
        else:
            out.append((word, "O"))
    return out


def write(
    out_dir: Path, sizes: dict[str, int] | None = None, seed: int = 13, unlabeled: int = 400
) -> dict[str, Path]:
    """CoNLL files (word and tag per line, -DOCSTART- every 8 sentences), train_raw.txt, the
    training sentences as raw text for task-adaptive MLM, and unlabeled.txt: `unlabeled` more
    sentences of the training names, without labels (the raw text self-training labels)."""
    sizes = sizes or {"train": 240, "dev": 80, "test": 80}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, n in sizes.items():
        rng = random.Random(f"{seed}-{split}")
        sents = [sentence(rng, split) for _ in range(n)]
        lines = []
        for i, s in enumerate(sents):
            if i % 8 == 0:
                lines += ["-DOCSTART- O", ""]
            lines += [f"{w} {t}" for w, t in s] + [""]
        paths[split] = out_dir / f"{split}.conll"
        paths[split].write_text("\n".join(lines), encoding="utf-8")
        if split == "train":
            paths["raw"] = out_dir / "train_raw.txt"
            paths["raw"].write_text("\n".join(" ".join(w for w, _ in s) for s in sents) + "\n")
    if unlabeled:
        rng = random.Random(f"{seed}-unlabeled")
        sents = [sentence(rng, "train") for _ in range(unlabeled)]
        paths["unlabeled"] = out_dir / "unlabeled.txt"
        paths["unlabeled"].write_text("\n".join(" ".join(w for w, _ in s) for s in sents) + "\n")
    return paths


if __name__ == "__main__":  # pragma: no cover
    for name, path in write(Path(sys.argv[1] if len(sys.argv) > 1 else ".")).items():
        print(name, path)
