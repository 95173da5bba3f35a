"""EM and F1 against hand-computed values: the official normalisation, the best over several gold
answers, and the SQuAD v2 rules for unanswerable questions with the HasAns/NoAns breakdown."""

from __future__ import annotations

import pytest

from rawtune.evaluation.qa_metrics import (
    best_thresholds,
    f1_score,
    normalize_answer,
    qa_metrics,
    score_question,
)


def test_normalisation_is_the_official_one():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("an Apple a day") == "apple day"
    assert normalize_answer("another theory") == "another theory"  # articles only as whole words
    assert normalize_answer("U.S.A.") == "usa"  # punctuation removed, not replaced by a space
    assert normalize_answer("«Paris»") == "«paris»"  # only ASCII punctuation, as the script does


def test_f1_counts_shared_tokens():
    # pred cat sat on mat, gold cat sat: precision 2/4, recall 2/2 -> F1 2/3
    assert f1_score("cat sat on the mat", "the cat sat") == pytest.approx(2 / 3)
    # repeated tokens count as often as both sides have them
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)  # common {x:1, y:1} -> p = r = 2/3
    assert f1_score("Denver", "Broncos") == 0.0


def test_best_over_gold_answers():
    assert score_question("Broncos", ["Denver Broncos", "the Broncos"]) == (1.0, 1.0)
    em, f1 = score_question("Denver", ["Denver Broncos", "Broncos"])
    assert em == 0.0 and f1 == pytest.approx(2 / 3)  # 1 of 1 predicted, 1 of 2 gold
    m = qa_metrics(["Denver", "Broncos"], [["Denver Broncos"], ["the Broncos", "Carolina"]])
    assert m["exact_match"] == pytest.approx(50.0)
    assert m["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert "HasAns_f1" not in m and m["total"] == 2


def test_unanswerable_questions_and_breakdown():
    preds = ["x", "", "", "y"]
    golds = [["x"], ["z"], [], []]  # two with answers, two without
    m = qa_metrics(preds, golds)
    assert m["exact_match"] == pytest.approx(50.0) and m["f1"] == pytest.approx(50.0)
    assert (m["HasAns_exact"], m["HasAns_total"]) == (pytest.approx(50.0), 2)
    assert (m["NoAns_exact"], m["NoAns_f1"], m["NoAns_total"]) == (
        pytest.approx(50.0),
        pytest.approx(50.0),
        2,
    )
    # an empty prediction on an answerable question scores 0, a non-empty one on an unanswerable 0
    assert score_question("", ["z"]) == (0.0, 0.0) and score_question("y", []) == (0.0, 0.0)
    assert score_question("", []) == (1.0, 1.0)
    with pytest.raises(ValueError):
        qa_metrics(["x"], [["x"], ["y"]])


def _thresholded(spans, margins, threshold):
    return [a if m <= threshold else "" for a, m in zip(spans, margins)]


def test_best_threshold_by_hand():
    # margins ascending: q0 (has answer, right), q1 (no answer, the span is wrong), q2 (has answer,
    # half right), q3 (no answer). Answering q0 only gives 3/4 right; answering q0..q2 gives 2.5/4.
    spans = ["paris", "a dog", "the red car", "blue"]
    margins = [-2.0, -1.0, 0.5, 3.0]
    golds = [["Paris"], [], ["red bus"], []]
    got = best_thresholds(spans, margins, golds)
    assert got["best_exact"] == pytest.approx(75.0) and got["best_exact_thresh"] == -2.0
    assert got["best_f1"] == pytest.approx(75.0) and got["best_f1_thresh"] == -2.0
    # and when every question has an answer, the best is to answer all of them
    got = best_thresholds(spans, margins, [["paris"], ["a dog"], ["the red car"], ["blue"]])
    assert got["best_exact"] == 100.0 and got["best_exact_thresh"] == 3.0


def test_best_threshold_is_what_thresholding_scores_and_nothing_beats_it():
    import random

    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta"]
    for _ in range(50):
        n = rng.randint(1, 12)
        golds = [[] if rng.random() < 0.4 else [rng.choice(words)] for _ in range(n)]
        spans = [rng.choice([*words, "alpha beta"]) for _ in range(n)]
        margins = [float(rng.randint(-3, 3)) for _ in range(n)]  # ties on purpose
        if rng.random() < 0.2:
            margins[0], spans[0] = float("inf"), ""  # a question with no span at all
        got = best_thresholds(spans, margins, golds)
        for key, metric in (("exact", "exact_match"), ("f1", "f1")):
            at_best = qa_metrics(_thresholded(spans, margins, got[f"best_{key}_thresh"]), golds)[metric]
            assert at_best == pytest.approx(got[f"best_{key}"])
            for t in [*margins, -10.0]:
                assert qa_metrics(_thresholded(spans, margins, t), golds)[metric] <= got[f"best_{key}"] + 1e-9
