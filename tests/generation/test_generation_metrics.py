"""Generation metrics on cases whose answer is known by hand, and perplexity as exp(mean loss)."""

from __future__ import annotations

import math

import pytest

from rawtune.evaluation.generation_metrics import generation_metrics, perplexity


def test_rouge_on_a_hand_case():
    m = generation_metrics(["the cat sat"], ["the cat sat on the mat"], ["rouge"])
    # unigrams: 3 of 3 predicted match, 3 of 6 reference: F = 2 * 1 * 0.5 / 1.5
    assert m["rouge1"] == pytest.approx(100 * 2 / 3)
    # bigrams: 2 of 2 predicted, 2 of 5 reference: F = 2 * 1 * 0.4 / 1.4
    assert m["rouge2"] == pytest.approx(100 * 0.8 / 1.4)
    assert m["rougeL"] == pytest.approx(100 * 2 / 3)  # longest common subsequence: 3 words


def test_rouge_averages_examples_and_stems():
    m = generation_metrics(["cats running", "x"], ["cat runs", "y"], ["rouge"])
    assert m["rouge1"] == pytest.approx(50.0)  # the first matches fully after stemming, the second not at all


def test_bleu_on_a_hand_case_and_identity():
    m = generation_metrics(["the cat sat on the mat"], ["the cat sat on a mat"], ["bleu"])
    # n-gram precisions 5/6, 3/5, 2/4, 1/3, no brevity penalty: the geometric mean
    assert m["bleu"] == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-6)
    same = generation_metrics(["a b c d e", "f g h i"], ["a b c d e", "f g h i"], ["bleu", "chrf"])
    assert same["bleu"] == pytest.approx(100.0) and same["chrf"] == pytest.approx(100.0)


def test_chrf_is_zero_without_shared_characters():
    assert generation_metrics(["xyz"], ["abc"], ["chrf"])["chrf"] == pytest.approx(0.0)


def test_exact_match_and_metric_sets():
    m = generation_metrics(["a b", " c ", "d"], ["a b", "c", "e"], ["exact_match"])
    assert m == {"exact_match": pytest.approx(200 / 3)}
    assert set(generation_metrics(["a"], ["a"], ["rouge", "bleu"])) == {"rouge1", "rouge2", "rougeL", "bleu"}
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        generation_metrics(["a", "b"], ["a"], ["rouge"])


def test_perplexity_is_exp_of_the_mean_loss():
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert math.isfinite(perplexity(1e6))


def test_several_references_score_against_the_best_or_all_of_them():
    preds = ["the cat sat on the mat", "a b c d e"]
    refs = [["a dog ran", "the cat sat on the mat"], "a b c d e"]  # a list, or one string
    m = generation_metrics(preds, refs, ["rouge", "bleu", "chrf", "exact_match"])
    assert m["rouge1"] == pytest.approx(100.0) and m["rougeL"] == pytest.approx(100.0)  # the best reference
    assert m["bleu"] == pytest.approx(100.0) and m["chrf"] == pytest.approx(100.0)
    assert m["exact_match"] == pytest.approx(100.0)
    single = generation_metrics(preds, [["a dog ran"], "a b c d e"], ["rouge", "exact_match"])
    assert single["rouge1"] < 60.0 and single["exact_match"] == pytest.approx(50.0)
