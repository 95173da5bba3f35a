"""Writes the bundled relation-extraction sample: short sentences about people, organisations and
places, composed from templates written for rawtune and the name lists of the NER sample
(`synthetic_ner`; no third-party text, free to ship). Relations: `works_for` (PER -> ORG),
`born_in` (PER -> LOC), `located_in` (ORG -> LOC), and `no_relation` for every other ordered pair of
mentions in a sentence (the reversed direction included), so a model must read the markers'
roles and the words around them, not just the two types.

Dev and test use names never seen in training. Each line is one pair in the `tokens` format of
`rawtune finetune --task relations`; `raw.txt` holds the test sentences as plain text (for the
pipeline mode). Deterministic: `python -m rawtune.samples.synthetic_relations OUT_DIR` rebuilds
the files.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

from rawtune.samples.synthetic_ner import LOC, ORG, PER

# slots {PER0} {ORG0} {LOC1} ...; facts: (head slot, tail slot, relation); other pairs: no_relation
TEMPLATES: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("{PER0} works for {ORG0} .", [("PER0", "ORG0", "works_for")]),
    ("{PER0} , who was born in {LOC0} , joined {ORG0} in 2019 .",
     [("PER0", "LOC0", "born_in"), ("PER0", "ORG0", "works_for")]),
    ("{ORG0} is headquartered in {LOC0} .", [("ORG0", "LOC0", "located_in")]),
    ("{PER0} visited {LOC0} to meet {PER1} .", []),
    ("{PER0} , a native of {LOC0} , met officials from {ORG0} .", [("PER0", "LOC0", "born_in")]),
    ("{PER0} left {ORG0} and moved to {LOC0} .", []),
    ("{ORG0} , based in {LOC0} , hired {PER0} last year .",
     [("ORG0", "LOC0", "located_in"), ("PER0", "ORG0", "works_for")]),
    ("{PER0} was born in {LOC0} and now lives in {LOC1} .", [("PER0", "LOC0", "born_in")]),
    ("{ORG0} opened a small sales office in {LOC0} .", []),
    ("{PER0} , chief executive of {ORG0} , spoke in {LOC0} on Monday .", [("PER0", "ORG0", "works_for")]),
    ("Born in {LOC0} , {PER0} studied in {LOC1} before joining {ORG0} .",
     [("PER0", "LOC0", "born_in"), ("PER0", "ORG0", "works_for")]),
    ("{PER0} criticised {ORG0} during a visit to {LOC0} .", []),
    ("{ORG0} moved its headquarters to {LOC0} .", [("ORG0", "LOC0", "located_in")]),
    ("{PER0} is an engineer at {ORG0} .", [("PER0", "ORG0", "works_for")]),
    ("{PER1} said {PER0} was born in {LOC0} .", [("PER0", "LOC0", "born_in")]),
    ("{ORG0} signed a deal with {ORG1} , which is based in {LOC0} .", [("ORG1", "LOC0", "located_in")]),
    ("{PER0} , a lawyer for {ORG0} , was born in {LOC0} .",
     [("PER0", "ORG0", "works_for"), ("PER0", "LOC0", "born_in")]),
    ("Fans in {LOC0} cheered as {PER0} arrived from {LOC1} .", []),
]  # fmt: skip
RELATIONS = ("born_in", "located_in", "no_relation", "works_for")


def _fill(rng: random.Random, template: str, split: str) -> tuple[list[str], dict[str, tuple[int, int, str]]]:
    """The sentence's tokens and each slot's (start, end) token span and type; distinct names per
    slot. A leading "the" stays outside the mention, as in CoNLL."""
    lists = {"PER": PER, "ORG": ORG, "LOC": LOC}
    tokens: list[str] = []
    slots: dict[str, tuple[int, int, str]] = {}
    used: set[str] = set()
    for word in template.split():
        if not word.startswith("{"):
            tokens.append(word)
            continue
        slot = word.strip("{}")
        kind = slot[:3]
        name = rng.choice([n for n in lists[kind][split] if n not in used])
        used.add(name)
        words = name.split()
        if words[0] == "the":
            tokens.append("the" if tokens else "The")
            words = words[1:]
        slots[slot] = (len(tokens), len(tokens) + len(words), kind)
        tokens += words
    return tokens, slots


def sentence_pairs(rng: random.Random, split: str) -> tuple[list[str], list[dict]]:
    template, facts = rng.choice(TEMPLATES)
    tokens, slots = _fill(rng, template, split)
    relation = {(h, t): r for h, t, r in facts}
    pairs = []
    for h, t in itertools.permutations(slots, 2):
        (hs, he, hk), (ts, te, tk) = slots[h], slots[t]
        if hk == tk:  # PER-PER, LOC-LOC: no relation of ours holds between them
            continue
        pairs.append(
            {
                "tokens": tokens,
                "head": {"start": hs, "end": he, "type": hk},
                "tail": {"start": ts, "end": te, "type": tk},
                "label": relation.get((h, t), "no_relation"),
            }
        )
    return tokens, pairs


def write(out_dir: Path, sizes: dict[str, int] | None = None, seed: int = 17) -> dict[str, Path]:
    """train/dev/test .jsonl (every candidate pair of `sizes[split]` sentences) and raw.txt."""
    sizes = sizes or {"train": 300, "dev": 100, "test": 100}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, n in sizes.items():
        rng = random.Random(f"{seed}-{split}")
        sentences = [sentence_pairs(rng, split) for _ in range(n)]
        paths[split] = out_dir / f"{split}.jsonl"
        lines = [json.dumps(p, ensure_ascii=False) for _, pairs in sentences for p in pairs]
        paths[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
        if split == "test":
            paths["raw"] = out_dir / "raw.txt"
            paths["raw"].write_text("\n".join(" ".join(t) for t, _ in sentences) + "\n", encoding="utf-8")
    return paths


if __name__ == "__main__":
    out = write(Path(sys.argv[1] if len(sys.argv) > 1 else "relations-sample"))
    print("\n".join(f"{k}: {v}" for k, v in out.items()))
