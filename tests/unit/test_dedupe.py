"""The streaming dedupe's repeat finder: it may flag a document that occurs once, never miss one
that repeats, at whatever distance (same batch, next batch, a later filter stage)."""

from __future__ import annotations

import hashlib
import random

from rawtune.data.dedupe import RepeatFinder, repeated_digests


def digest(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()[:16]


def test_every_repeat_is_found_and_few_singles_are_flagged():
    rng = random.Random(0)
    stream = [digest(i) for i in range(60_000)]
    repeats = {digest(i) for i in rng.sample(range(60_000), 300)}
    for d in repeats:  # each repeat again, somewhere after its first occurrence (near or far)
        first = stream.index(d)
        stream.insert(rng.choice([first + 1, first + 5, rng.randrange(first + 1, len(stream) + 1)]), d)
    finder = RepeatFinder(error=1e-3, first_capacity=5_000)  # 60k documents: four stages
    for start in range(0, len(stream), 1000):
        finder.feed(stream[start : start + 1000])
    assert len(finder.stages) >= 4
    assert repeats <= finder.candidates  # no repeat missed
    assert len(finder.candidates - repeats) <= 60  # false positives: expected under 0.001 * 60,000
    assert finder.nbytes < 60_000 * 4  # a few bytes a document, not a digest each


def test_repeats_inside_one_batch_and_across_batches():
    a, b, c = digest(1), digest(2), digest(3)
    assert repeated_digests([a, b, a, c]) == {a}
    finder = RepeatFinder()
    finder.feed([a, b])
    finder.feed([c, b])
    finder.feed([])
    assert finder.candidates == {b}
