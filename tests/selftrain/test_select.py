"""Choosing pseudo-labels (pure functions): the confidence threshold, NER's per-type caps and share of
entity-free sentences, classification's per-class caps and balance, and the error when nothing
passes, which gives the numbers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rawtune.errors import DataError
from rawtune.selftrain.select import label_cap, select_classes, select_ner


def options(**kw):
    base = {"threshold": 0.5, "per_label": 4.0, "max_per_label": None, "entity_free": 0.0, "balance": True}
    return SimpleNamespace(**{**base, **kw})


def sent(*entities: tuple[str, float]) -> dict:
    return {"tokens": ["w"], "tags": ["O"], "entities": [{"type": t, "score": s} for t, s in entities]}


def test_a_sentence_is_kept_only_when_every_entity_passes_the_threshold() -> None:
    records = [
        sent(("PER", 0.9), ("LOC", 0.4)),
        sent(("PER", 0.6)),
        sent(("LOC", 0.5), ("ORG", 0.95)),
        sent(),
    ]
    kept, stats = select_ner(records, {"PER": 5, "LOC": 5, "ORG": 5}, options(), seed=0)
    assert kept == [1, 2]
    assert stats["with_entities"] == {"seen": 3, "passed": 2, "kept": 2}
    assert stats["types"]["LOC"] == {"gold": 5, "predicted": 2, "passed": 1, "kept": 1, "cap": 20}
    assert stats["seen"] == 4 and stats["kept"] == 2 and stats["threshold"] == 0.5


def test_per_type_caps_keep_the_most_confident_and_leave_room_for_other_types() -> None:
    # ten confident LOC sentences, a less confident PER one: LOC is capped at 2 x its 1 gold mention
    records = [sent(("LOC", 0.99 - i / 100)) for i in range(10)] + [sent(("PER", 0.7), ("LOC", 0.7))]
    kept, stats = select_ner(records, {"LOC": 1, "PER": 1}, options(per_label=2.0), seed=0)
    assert kept == [0, 1]  # the two most confident; the PER sentence would be a third LOC mention
    assert stats["types"]["LOC"]["kept"] == 2 and stats["types"]["LOC"]["cap"] == 2
    assert stats["dropped_by_caps"] == 9
    only_per = [sent(("LOC", 0.99)), sent(("LOC", 0.98)), sent(("PER", 0.7))]
    kept, stats = select_ner(only_per, {"LOC": 1, "PER": 1}, options(per_label=1.0), seed=0)
    assert kept == [0, 2] and stats["types"]["PER"]["kept"] == 1
    kept, _ = select_ner(records, {"LOC": 100}, options(max_per_label=3), seed=0)
    assert kept == [0, 1, 2]


def test_entity_free_sentences_make_at_most_their_share_drawn_with_the_seed() -> None:
    records = [sent(("PER", 0.9)) for _ in range(4)] + [sent() for _ in range(10)]
    kept, stats = select_ner(records, {"PER": 10}, options(entity_free=0.2), seed=1)
    assert len(kept) == 5 and kept[:4] == [0, 1, 2, 3] and kept == sorted(kept)  # 1 free = 0.2 of 5
    assert stats["entity_free"] == {"seen": 10, "kept": 1, "max_share": 0.2}
    assert select_ner(records, {"PER": 10}, options(entity_free=0.2), seed=1)[0] == kept
    assert select_ner(records, {"PER": 10}, options(entity_free=0.5), seed=1)[1]["entity_free"]["kept"] == 4


def test_nothing_passing_is_an_error_with_the_numbers() -> None:
    records = [sent(("PER", 0.3)), sent(("LOC", 0.42), ("PER", 0.8)), sent()]
    with pytest.raises(DataError, match=r"threshold 0\.5 .*best is 0\.4200.* in 2 of 3 sentences"):
        select_ner(records, {"PER": 1}, options(), seed=0)
    with pytest.raises(DataError, match="no entity in any of the 2 sentences"):
        select_ner([sent(), sent()], {"PER": 1}, options(), seed=0)


def cls(label: str, p: float) -> dict:
    other = {"pos": "neg", "neg": "pos"}.get(label, "pos")
    return {"text": "t", "label": label, "scores": {label: p, other: 1 - p}}


def test_classification_keeps_confident_texts_in_the_training_sets_proportions() -> None:
    records = [cls("pos", 0.9 + i / 100) for i in range(8)] + [
        cls("neg", 0.8),
        cls("neg", 0.95),
        cls("neg", 0.6),
    ]
    records.append(cls("neg", 0.99))
    kept, stats = select_classes(records, {"pos": 10, "neg": 10}, options(threshold=0.7))
    # 3 confident neg, 8 pos: balanced at 3 each, the most confident of each
    assert sorted(records[i]["label"] for i in kept) == ["neg"] * 3 + ["pos"] * 3
    assert set(kept) >= {5, 6, 7} and 10 not in kept  # neg 0.6 is under the threshold
    assert stats["classes"]["pos"] == {"gold": 10, "predicted": 8, "passed": 8, "kept": 3, "cap": 40}
    assert stats["passed"] == 11 and stats["scale"] == pytest.approx(0.3)
    kept, stats = select_classes(records, {"pos": 10, "neg": 10}, options(threshold=0.7, balance=False))
    assert len(kept) == 11
    kept, _ = select_classes(
        records, {"pos": 1, "neg": 1}, options(threshold=0.7, balance=False, per_label=2)
    )
    assert len(kept) == 4  # each class capped at 2 per training example


def test_a_class_without_a_confident_prediction_does_not_stop_the_others() -> None:
    records = [cls("pos", 0.9), cls("pos", 0.95), cls("neg", 0.4)]
    kept, stats = select_classes(records, {"pos": 5, "neg": 5, "neutral": 5}, options())
    assert kept == [0, 1] and stats["classes"]["neutral"]["passed"] == 0


def test_classification_nothing_passing_is_an_error_with_the_numbers() -> None:
    with pytest.raises(DataError, match=r"threshold 0\.99 .* 2 texts \(the best is 0\.9000\)"):
        select_classes([cls("pos", 0.9), cls("neg", 0.7)], {"pos": 1, "neg": 1}, options(threshold=0.99))


def test_caps() -> None:
    assert label_cap(10, 4.0, None) == 40
    assert label_cap(0, 4.0, None) == 4  # a type the training subset lacks still gets a few
    assert label_cap(3, 0.1, None) == 1
    assert label_cap(10, 4.0, 7) == 7
