"""Evaluation metrics against hand-computed numbers (and sklearn's own text report)."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import classification_report

from rawtune.evaluation.metrics import (
    classification_metrics,
    format_token_report,
    multilabel_metrics,
    ner_metrics,
    primary_metric,
    regression_metrics,
    tag_order,
)

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]


def assert_plain(obj: object) -> None:
    """Only builtin JSON types: np.float64 passes json.dumps (it subclasses float) but is not plain."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) is str
            assert_plain(v)
    elif isinstance(obj, list):
        for v in obj:
            assert_plain(v)
    else:
        assert type(obj) in (int, float, str, bool, type(None)), (obj, type(obj))
    json.dumps(obj, allow_nan=False)


# --- NER ------------------------------------------------------------------------------------------
def test_ner_entity_scores_by_hand() -> None:
    m = ner_metrics(GOLD, PRED)
    # gold entities PER, LOC, ORG; predicted PER, ORG (wrong type for LOC), ORG: 2 of 3 right each way
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert list(m["per_type"]) == ["LOC", "ORG", "PER"]
    assert m["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    org = m["per_type"]["ORG"]
    assert (org["precision"], org["recall"], org["support"]) == (0.5, 1.0, 1)
    assert org["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0 + 2 / 3 + 1) / 3)
    assert (m["n_sentences"], m["n_tokens"], m["n_gold_entities"], m["n_pred_entities"]) == (2, 6, 3, 3)
    assert_plain(m)


def test_ner_type_confusion_by_hand() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"]]
    pred = [["B-PER", "B-PER", "O", "B-ORG", "I-MISC"]]  # a boundary error stays PER -> PER
    conf = ner_metrics(gold, pred)["confusion"]
    assert conf["labels"] == ["LOC", "MISC", "ORG", "PER", "O"]
    rows = dict(zip(conf["labels"], conf["matrix"]))
    assert rows["PER"] == [0, 0, 0, 2, 0]
    assert rows["LOC"] == [0, 0, 1, 0, 0]  # LOC read as ORG
    assert rows["O"] == [0, 1, 0, 0, 1]  # one invented MISC token
    assert rows["MISC"] == rows["ORG"] == [0, 0, 0, 0, 0]


def test_ner_token_report_by_hand() -> None:
    m = ner_metrics(GOLD, PRED)
    rep = m["token_report"]
    assert list(rep) == ["B-LOC", "B-ORG", "B-PER", "I-PER", "O", "micro avg", "macro avg", "weighted avg"]
    assert rep["B-LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert (rep["B-ORG"]["precision"], rep["B-ORG"]["recall"]) == (0.5, 1.0)
    assert rep["O"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["token_accuracy"] == pytest.approx(5 / 6)
    assert rep["micro avg"]["f1"] == pytest.approx(5 / 6) and rep["micro avg"]["support"] == 6
    # macro precision over 5 tags: (0 + .5 + 1 + 1 + 1) / 5; weighted recall: (0 + 1 + 1 + 1 + 2) / 6
    assert rep["macro avg"]["precision"] == pytest.approx(0.7)
    assert rep["weighted avg"]["recall"] == pytest.approx(5 / 6)


def test_tag_order_groups_types_b_before_i_o_last() -> None:
    tags = {"O", "I-MISC", "B-PER", "I-LOC", "B-LOC", "B-MISC"}
    assert tag_order(tags) == ["B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-PER", "O"]


def test_strict_mode_counts_i_start_and_partial_span_as_misses() -> None:
    m = ner_metrics([["B-PER", "I-PER"], ["B-LOC", "I-LOC"]], [["I-PER", "I-PER"], ["B-LOC", "O"]])
    # lenient seqeval would turn I-PER I-PER into a PER entity and score a hit; strict does not
    assert m["n_pred_entities"] == 1  # only the (too short) B-LOC
    assert m["per_type"]["PER"]["recall"] == 0.0
    assert m["per_type"]["LOC"]["f1"] == 0.0  # a boundary error is a miss
    assert m["f1"] == 0.0


def test_ner_without_entities_has_no_macro() -> None:
    m = ner_metrics([["O", "O"]], [["O", "O"]])
    assert m["per_type"] == {} and m["macro_f1"] is None and m["f1"] == 0.0
    assert m["token_accuracy"] == 1.0
    assert_plain(m)


def test_ner_input_errors_name_the_sentence() -> None:
    with pytest.raises(ValueError, match="sentence 1: gold has 2 tags but pred has 1"):
        ner_metrics([["O"], ["B-PER", "O"]], [["O"], ["B-PER"]])
    with pytest.raises(ValueError, match="2 sentences but pred has 1"):
        ner_metrics([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match=r"sentence 0, token 1: pred tag 'E-PER' is not IOB2"):
        ner_metrics([["O", "O"]], [["O", "E-PER"]])


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        (GOLD, PRED),
        ([["B-VERY_LONG_TYPE", "I-VERY_LONG_TYPE", "O"]], [["B-VERY_LONG_TYPE", "O", "B-X"]]),
    ],
)
def test_format_token_report_is_sklearns_text(gold: list[list[str]], pred: list[list[str]]) -> None:
    report = ner_metrics(gold, pred)["token_report"]
    tags = [t for t in report if not t.endswith(" avg")]
    flat_gold = [t for s in gold for t in s]
    flat_pred = [t for s in pred for t in s]
    expected = classification_report(flat_gold, flat_pred, labels=tags, digits=4, zero_division=0)
    assert format_token_report(report) == expected


# --- classification -------------------------------------------------------------------------------
def test_classification_by_hand_with_zero_support_label() -> None:
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    m = classification_metrics(gold, pred, ["a", "b", "c", "d"])
    assert m["accuracy"] == pytest.approx(3 / 5) and m["micro_f1"] == pytest.approx(3 / 5)
    assert list(m["per_class"]) == ["a", "b", "c", "d"]
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["b"]["f1"] == 0.8
    assert m["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # macro over labels seen in gold or pred (a, b, c): the unseen, unpredicted d does not drag it down
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8) / 5)
    assert m["confusion"] == {
        "labels": ["a", "b", "c", "d"],
        "matrix": [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]],
    }
    assert m["n"] == 5
    assert_plain(m)


def test_classification_refuses_unknown_labels_and_bad_lengths() -> None:
    with pytest.raises(ValueError, match="pred has labels not in `labels`: z"):
        classification_metrics(["a"], ["z"], ["a", "b"])
    with pytest.raises(ValueError, match="gold has 2 examples but pred has 1"):
        classification_metrics(["a", "b"], ["a"], ["a", "b"])


def test_multilabel_by_hand() -> None:
    gold = [["a", "b"], ["b"], [], ["c"]]
    pred = [["a"], ["b", "c"], [], ["c"]]
    m = multilabel_metrics(gold, pred, ["a", "b", "c", "d"])
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # tp 3, fp 1, fn 1
    assert m["per_class"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["per_class"]["d"]["support"] == 0
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    # per example: 2/3, 2/3, 1 (nothing expected, nothing predicted), 1
    assert m["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 1) / 4)
    assert m["subset_accuracy"] == 0.5 and m["n"] == 4
    assert_plain(m)


def test_regression_by_hand_and_constant_predictions() -> None:
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert m["mse"] == pytest.approx(0.25) and m["mae"] == pytest.approx(0.25)
    assert m["spearman"] == pytest.approx(1.0)
    assert m["pearson"] == pytest.approx(0.9827076298239907)
    assert m["n"] == 4
    assert_plain(m)
    flat = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert flat["pearson"] is None and flat["spearman"] is None
    assert flat["mse"] == pytest.approx(2 / 3)
    assert_plain(flat)
    assert regression_metrics([1.0], [1.0])["pearson"] is None


def test_primary_metric() -> None:
    assert primary_metric("ner") == ("f1", True)
    assert primary_metric("classification") == ("macro_f1", True)
    assert primary_metric("multilabel") == ("micro_f1", True)
    assert primary_metric("pairs") == ("macro_f1", True)
    assert primary_metric("regression") == ("pearson", True)
    assert primary_metric("qa") == ("f1", True)
    with pytest.raises(ValueError, match="unknown task 'no-such-task'"):
        primary_metric("no-such-task")
