"""Augment sentences: `factor` copies of each, first with entity swaps (NER), then with a fraction of
the replaceable words (alphabetic and outside every entity) replaced by masked-LM samples. Entity
words and tags are never touched by the replacement, so it preserves labels; a swap changes an
entity's words but keeps its type. The counts say what changed."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from rawtune.augmentation.mlm import Replacer, Request
from rawtune.augmentation.seeds import copy_generator, uniform
from rawtune.augmentation.swap import MentionBank, swap_entities


@dataclass(frozen=True)
class Sentence:
    words: list[str]
    tags: list[str] | None = None  # IOB2; None for a text (classification)


@dataclass
class Copy:
    example: int  # the sentence it was made from
    words: list[str]
    tags: list[str] | None
    origin: list[tuple[int, int]]  # (sentence, word) whose other columns each word takes
    replaced: list[int] = field(default_factory=list)  # positions the masked LM changed


@dataclass
class Counts:
    examples_in: int = 0
    examples_out: int = 0
    copies: int = 0
    words_in_copies: int = 0
    replaceable_words: int = 0  # alphabetic words outside entities, in the copies
    words_replaced: int = 0
    words_cut_off: int = 0  # chosen, but past max_length: left as they were
    entity_mentions: int = 0
    entities_swapped: int = 0
    unchanged_copies: int = 0
    methods: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["fraction_replaced"] = (
            self.words_replaced / self.replaceable_words if self.replaceable_words else 0.0
        )
        return out


def replaceable(words: list[str], tags: list[str] | None) -> list[int]:
    return [i for i, w in enumerate(words) if w.isalpha() and (tags is None or tags[i] == "O")]


def augment(
    sentences: list[Sentence],
    *,
    factor: int,
    methods: list[str],
    seed: int,
    fraction: float,
    swap_prob: float = 0.0,
    replacer: Replacer | None = None,
    batch_size: int = 32,
) -> tuple[list[Copy], Counts]:
    """`factor` copies of every sentence, in order (sentence 0's copies first)."""
    ner = all(s.tags is not None for s in sentences)
    use_swap = "swap" in methods and ner
    use_mlm = "mlm" in methods
    if use_mlm and replacer is None:
        raise ValueError("the mlm method needs a replacer (a masked LM)")
    bank = (
        MentionBank.build([(s.words, s.tags) for s in sentences if s.tags is not None]) if use_swap else None
    )
    counts = Counts(examples_in=len(sentences), methods=[m for m in methods if m != "swap" or use_swap])
    copies, requests = [], []
    for e, s in enumerate(sentences):
        for c in range(factor):
            g = copy_generator(seed, e, c)
            words, tags = list(s.words), list(s.tags) if s.tags is not None else None
            origin = [(e, i) for i in range(len(words))]
            if bank is not None and tags is not None:
                words, tags, origin, found, swapped = swap_entities(words, tags, origin, bank, swap_prob, g)
                counts.entity_mentions += found
                counts.entities_swapped += swapped
            copy = Copy(e, words, tags, origin)
            candidates = replaceable(words, tags)
            counts.replaceable_words += len(candidates)
            if use_mlm and candidates:
                requests.append((copy, _choose(candidates, fraction, g), g))
            copies.append(copy)
    if requests:
        assert replacer is not None
        filled = replacer.fill([Request(cp.words, pos, g) for cp, pos, g in requests], batch_size)
        for (cp, positions, _), new in zip(requests, filled):
            for pos, word in zip(positions, new):
                if word is None:
                    counts.words_cut_off += 1
                else:
                    cp.words[pos] = word
                    cp.replaced.append(pos)
    for cp in copies:
        counts.words_in_copies += len(cp.words)
        counts.words_replaced += len(cp.replaced)
        s = sentences[cp.example]
        counts.unchanged_copies += cp.words == s.words and cp.tags == s.tags
    counts.copies = len(copies)
    counts.examples_out = len(sentences) + len(copies)
    return copies, counts


def _choose(candidates: list[int], fraction: float, g) -> list[int]:
    """fraction * n words in expectation: floor(fraction * n + u), u uniform, so short sentences get
    their share too (3 words at 0.15: one word 45 % of the time)."""
    import torch

    k = min(len(candidates), math.floor(fraction * len(candidates) + uniform(g)))
    order = torch.randperm(len(candidates), generator=g)[:k].tolist()
    return sorted(candidates[i] for i in order)
