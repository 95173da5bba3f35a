from __future__ import annotations

import pytest

from rawtune.data.labels import (
    LabelSpace,
    bioes_to_iob2,
    check_subset,
    compare_to_model,
    detect_scheme,
    entity_types,
    iob1_to_iob2,
    iob2_to_bioes,
    is_valid_iob2,
    parse_tag,
    repair_iob2,
)
from rawtune.data.readers.examples import TextExample, TokenExample
from rawtune.errors import DataError


def test_parse_tag() -> None:
    assert parse_tag("O") == ("O", "")
    assert parse_tag("B-PER") == ("B", "PER")
    assert parse_tag("I-my-type") == ("I", "my-type")
    assert parse_tag("X-PER") is None
    assert parse_tag("B-") is None
    assert parse_tag("PER") is None


def test_scheme_conversions() -> None:
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "O"]
    assert iob1_to_iob2(iob1) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "O"]
    bioes = ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "U-ORG", "B-X", "L-X"]
    iob2 = ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-ORG", "B-X", "I-X"]
    assert bioes_to_iob2(bioes) == iob2
    assert iob2_to_bioes(iob2) == ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "S-ORG", "B-X", "E-X"]
    assert bioes_to_iob2(iob2_to_bioes(iob2)) == iob2


def test_validity_and_repair() -> None:
    assert is_valid_iob2(["B-PER", "I-PER", "O", "B-LOC"]) is None
    assert is_valid_iob2(["O", "I-PER"]) == 1
    assert is_valid_iob2(["B-PER", "I-LOC"]) == 1
    assert is_valid_iob2(["I-PER"]) == 0
    assert is_valid_iob2(["O", "S-PER"]) == 1
    assert repair_iob2(["O", "I-PER", "I-PER", "I-LOC"]) == (["O", "B-PER", "I-PER", "B-LOC"], 2)


def test_detect_scheme() -> None:
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "iob2"
    assert detect_scheme([["I-PER", "I-PER", "B-PER", "O"], ["O", "I-LOC"]]) == "iob1"
    assert detect_scheme([["O", "S-PER"], ["I-PER"]]) == "bioes"
    assert detect_scheme([["O", "U-PER"]]) == "bioes"
    # an I- start and a B- start of an entity after O: broken IOB2, not IOB1
    assert detect_scheme([["O", "I-PER"], ["O", "B-LOC"]]) == "iob2"


def test_ner_space_order_includes_i_for_b_only_types() -> None:
    space = LabelSpace.from_tags([["B-PER", "I-PER", "O"], ["B-MISC"], ["B-LOC", "O"], ["I-ORG"]])
    assert space.labels == ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER")
    assert space.id2label()[0] == "O"
    assert space.label2id()["I-MISC"] == 4
    assert entity_types(space) == ["LOC", "MISC", "ORG", "PER"]


def test_ner_space_refuses_degenerate_input() -> None:
    with pytest.raises(DataError, match="no entities"):
        LabelSpace.from_tags([["O", "O"]])
    with pytest.raises(DataError, match="not an IOB2 tag"):
        LabelSpace.from_tags([["S-PER"]])


def test_classification_space_sorting() -> None:
    assert LabelSpace.from_labels(["neg", "pos", "neg", "neutral"]).labels == ("neg", "neutral", "pos")
    assert LabelSpace.from_labels(["10", "2", "1", "2"]).labels == ("1", "2", "10")
    assert LabelSpace.from_labels(["10", "2", "b"]).labels == ("10", "2", "b")
    with pytest.raises(DataError, match="only one label"):
        LabelSpace.from_labels(["a", "a"])
    with pytest.raises(DataError, match="no labels"):
        LabelSpace.from_labels([])


def test_from_examples() -> None:
    toks = [TokenExample(["a", "b"], ["B-X", "O"], "f", 1)]
    assert LabelSpace.from_examples(toks).labels == ("O", "B-X", "I-X")
    texts = [TextExample("t", ["b", "a"], "f", 1), TextExample("u", ["c"], "f", 2)]
    assert LabelSpace.from_examples(texts).labels == ("a", "b", "c")
    assert LabelSpace.from_examples([TextExample("t", 0.5, "f", 1)]).labels == ("score",)


def test_check_subset_names_unseen_labels_and_where() -> None:
    space = LabelSpace(("O", "B-PER", "I-PER"))
    check_subset(space, ["O", "B-PER"], what="dev", file="dev.conll")
    with pytest.raises(DataError) as err:
        check_subset(space, {"O": "dev.conll:1", "B-LOC": "dev.conll:7"}, what="dev", file="dev.conll")
    msg = str(err.value)
    assert "'B-LOC' (first at dev.conll:7)" in msg
    assert "['O', 'B-PER', 'I-PER']" in msg
    assert msg.startswith("dev.conll: label: dev has 1 label(s)")


def test_compare_to_model() -> None:
    space = LabelSpace(("O", "B-PER", "I-PER"))
    assert compare_to_model(space, {0: "O", 1: "B-PER", 2: "I-PER"}) is None
    assert compare_to_model(space, {"0": "O", "1": "B-PER", "2": "I-PER"}) is None
    missing = compare_to_model(space, {0: "O", 1: "B-PER"})
    assert missing is not None and "labels missing from the model: ['I-PER']" in missing
    assert "the model head has 2 labels, the data 3" in missing
    extra = compare_to_model(space, {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC"})
    assert extra is not None and "labels only in the model: ['B-LOC']" in extra
    order = compare_to_model(space, {0: "B-PER", 1: "I-PER", 2: "O"})
    assert order == (
        "same labels in a different order: model ['B-PER', 'I-PER', 'O'] vs data ['O', 'B-PER', 'I-PER']"
    )


def test_get_entities_reads_tags_as_seqeval_does():
    """Prediction finds entities without importing seqeval (and scikit-learn behind it): the same
    chunks as seqeval's lenient get_entities, on every scheme's tags and on invalid transitions."""
    import random

    from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities

    from rawtune.data.labels import get_entities

    rng = random.Random(0)
    tags = ["O", *(f"{p}-{t}" for p in "BIES" for t in ("PER", "LOC", "B-X"))]
    for _ in range(3000):
        seq = [rng.choice(tags) for _ in range(rng.randint(0, 12))]
        assert get_entities(seq) == seqeval_entities(seq), seq
    assert get_entities(["B-PER", "I-PER", "O", "I-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
