"""k-shot sampling: deterministic, k per class, every class, file order, clear refusals."""

from __future__ import annotations

from collections import Counter

import pytest

from rawtune.data.kshot import entity_types, sample_ner_sentences, sample_per_class
from rawtune.data.readers.examples import TextExample, TokenExample
from rawtune.errors import DataError


def _texts(counts: dict[str, int]) -> list[TextExample]:
    out, line = [], 2
    for i in range(max(counts.values())):
        for label, n in counts.items():
            if i < n:
                out.append(TextExample(f"{label} {i}", label, "pool.csv", line))
                line += 1
    return out


def test_k_per_class_every_class_file_order():
    pool = _texts({"a": 20, "b": 15, "c": 9})
    got = sample_per_class(pool, 8, seed=1)
    assert Counter(ex.label for ex in got) == {"a": 8, "b": 8, "c": 8}
    lines = [ex.line for ex in got]
    assert lines == sorted(lines)
    assert len(set(lines)) == 24


def test_same_seed_same_sample_other_seed_other_sample():
    pool = _texts({"a": 30, "b": 30})
    first = [ex.line for ex in sample_per_class(pool, 4, seed=7)]
    assert first == [ex.line for ex in sample_per_class(pool, 4, seed=7)]
    assert first != [ex.line for ex in sample_per_class(pool, 4, seed=8)]


def test_a_class_draw_does_not_depend_on_other_classes():
    pool = _texts({"a": 30, "b": 30})
    only_a = [ex for ex in pool if ex.label == "a"]
    both = [ex.line for ex in sample_per_class(pool, 5, seed=3) if ex.label == "a"]
    assert both == [ex.line for ex in sample_per_class(only_a, 5, seed=3)]


def test_too_few_names_the_class_and_count():
    pool = _texts({"a": 10, "rare": 3})
    with pytest.raises(DataError, match=r"'rare' has 3") as e:
        sample_per_class(pool, 8, seed=0)
    assert "pool.csv" in str(e.value) and "'a'" not in str(e.value)


def _sentences() -> list[TokenExample]:
    tags = (
        [["B-PER", "O"]] * 6
        + [["B-LOC", "I-LOC"]] * 4
        + [["B-ORG", "B-PER"]] * 3
        + [["O", "O"]] * 10
        + [["B-MISC"]] * 2
    )
    return [TokenExample(["w"] * len(t), list(t), "ner.conll", 3 * i + 1) for i, t in enumerate(tags)]


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_ner_every_type_at_least_k_sentences(seed):
    sents = _sentences()
    got = sample_ner_sentences(sents, 2, seed)
    per_type = Counter(t for ex in got for t in entity_types(ex.tags))
    assert set(per_type) == {"PER", "LOC", "ORG", "MISC"}
    assert min(per_type.values()) >= 2
    assert all(entity_types(ex.tags) for ex in got)  # no entity-free sentence is drawn
    assert len(got) < 10  # greedy: far fewer than all 15 entity sentences
    lines = [ex.line for ex in got]
    assert lines == sorted(lines)
    assert lines == [ex.line for ex in sample_ner_sentences(sents, 2, seed)]


def test_ner_too_few_sentences_for_a_type():
    with pytest.raises(DataError, match=r"'MISC' is in 2"):
        sample_ner_sentences(_sentences(), 3, seed=0)
