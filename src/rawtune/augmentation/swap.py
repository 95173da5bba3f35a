"""Entity swap within type (mention replacement, Dai & Adel 2020): an entity mention is replaced
by another mention of the same type taken from the same data, tagged B-X I-X ... for its own length.
The bank holds each distinct mention text once, remembered where it first occurs, so a writer can
copy that occurrence's other columns (POS, chunk) with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rawtune.augmentation.seeds import randint, uniform


@dataclass(frozen=True)
class Mention:
    type: str
    example: int
    start: int
    end: int  # exclusive
    words: tuple[str, ...]


def mentions(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of every entity in IOB2 tags."""
    out: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        kind = tag[2:]
        if tag.startswith("I-") and out and out[-1][2] == i and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1], i + 1)
        else:
            out.append((kind, i, i + 1))
    return out


@dataclass
class MentionBank:
    pools: dict[str, list[Mention]] = field(default_factory=dict)
    index: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)

    @classmethod
    def build(cls, sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> MentionBank:
        bank = cls()
        for e, (words, tags) in enumerate(sentences):
            for kind, start, end in mentions(tags):
                key = (kind, tuple(words[start:end]))
                if key not in bank.index:
                    pool = bank.pools.setdefault(kind, [])
                    bank.index[key] = len(pool)
                    pool.append(Mention(kind, e, start, end, key[1]))
        return bank

    def draw(self, kind: str, words: tuple[str, ...], g) -> Mention | None:
        """A mention of type `kind` whose text differs from `words`, uniformly; None if there is none."""
        pool = self.pools.get(kind, [])
        own = self.index.get((kind, words))
        n = len(pool) - (own is not None)
        if n <= 0:
            return None
        r = randint(g, n)
        if own is not None and r >= own:
            r += 1
        return pool[r]


def swap_entities(
    words: list[str],
    tags: list[str],
    origin: list[tuple[int, int]],
    bank: MentionBank,
    prob: float,
    g,
) -> tuple[list[str], list[str], list[tuple[int, int]], int, int]:
    """Swap each mention with probability `prob`: new words, tags, origins, mentions, swaps."""
    out_w: list[str] = []
    out_t: list[str] = []
    out_o: list[tuple[int, int]] = []
    last, swapped = 0, 0
    found = mentions(tags)
    for kind, start, end in found:
        out_w += words[last:start]
        out_t += tags[last:start]
        out_o += origin[last:start]
        new = bank.draw(kind, tuple(words[start:end]), g) if uniform(g) < prob else None
        if new is None:
            out_w += words[start:end]
            out_t += tags[start:end]
            out_o += origin[start:end]
        else:
            out_w += new.words
            out_t += [f"B-{kind}"] + [f"I-{kind}"] * (len(new.words) - 1)
            out_o += [(new.example, i) for i in range(new.start, new.end)]
            swapped += 1
        last = end
    out_w += words[last:]
    out_t += tags[last:]
    out_o += origin[last:]
    return out_w, out_t, out_o, len(found), swapped
