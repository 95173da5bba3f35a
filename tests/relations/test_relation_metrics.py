"""Relation F1 leaves out the no-relation label: checked against numbers worked out by hand."""

from __future__ import annotations

import pytest

from rawtune.evaluation.relation_metrics import relation_metrics

LABELS = ("none", "born_in", "works_for")


def test_no_relation_is_excluded_from_micro_and_macro_f1():
    gold = ["none", "none", "none", "born_in", "born_in", "works_for", "works_for", "works_for"]
    pred = ["none", "none", "born_in", "born_in", "none", "works_for", "works_for", "born_in"]
    m = relation_metrics(gold, pred, LABELS, "none")
    # relations predicted: born_in x3 (1 right), works_for x2 (2 right) -> precision 3/5;
    # gold relations 5 (born_in 2, works_for 3), 3 found -> recall 3/5; micro F1 0.6
    assert m["micro_precision"] == pytest.approx(3 / 5)
    assert m["micro_recall"] == pytest.approx(3 / 5)
    assert m["micro_f1"] == pytest.approx(0.6)
    # born_in: P 1/3, R 1/2 -> F1 0.4; works_for: P 2/2, R 2/3 -> F1 0.8; macro 0.6
    assert m["per_class"]["born_in"]["f1"] == pytest.approx(0.4)
    assert m["per_class"]["works_for"]["f1"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx(0.6)
    # accuracy counts every pair, the 2 correct "none" included; sklearn's micro F1 over all labels would be 5/8
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["per_class"]["none"]["support"] == 3 and m["no_relation"] == "none"
    assert m["confusion"]["matrix"][0] == [2, 1, 0]  # gold none: 2 none, 1 born_in


def test_all_no_relation_scores_zero_not_perfect():
    m = relation_metrics(["none", "none"], ["none", "none"], LABELS, "none")
    assert m["micro_f1"] == 0.0 and m["macro_f1"] == 0.0 and m["accuracy"] == 1.0


def test_unknown_labels_are_refused():
    with pytest.raises(ValueError, match="not in the label set"):
        relation_metrics(["none"], ["lives_in"], LABELS, "none")
