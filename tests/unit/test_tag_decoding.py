"""Constrained decoding and the CRF: Viterbi never emits an invalid IOB2 sequence and finds the best
valid one; the CRF's likelihood is exact (checked against enumerating every path)."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from rawtune.data.labels import is_valid_iob2
from rawtune.tasks.tag_decoding import CRF, allowed_transitions, segments, viterbi

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def _valid_paths(n: int) -> list[tuple[int, ...]]:
    return [
        p
        for p in itertools.product(range(len(LABELS)), repeat=n)
        if is_valid_iob2([LABELS[i] for i in p]) is None
    ]


def test_viterbi_is_the_best_valid_path_and_never_invalid():
    rng = np.random.default_rng(0)
    start, trans = allowed_transitions(LABELS)
    for n in (1, 2, 3, 4):
        paths = _valid_paths(n)
        for _ in range(30):
            scores = rng.normal(size=(n, len(LABELS))).astype(np.float32)
            scores[:, [2, 4]] += 1.5  # I- tags most likely on their own: argmax would often be invalid
            got = viterbi(scores, start, trans)
            assert is_valid_iob2([LABELS[i] for i in got]) is None
            best = max(paths, key=lambda p: sum(scores[t, p[t]] for t in range(n)))
            assert tuple(got) == best


def test_viterbi_on_long_random_sequences_is_valid():
    rng = np.random.default_rng(1)
    start, trans = allowed_transitions(LABELS)
    for _ in range(200):
        scores = rng.normal(size=(rng.integers(0, 40), len(LABELS))) * 3
        assert is_valid_iob2([LABELS[i] for i in viterbi(scores, start, trans)]) is None


def test_crf_nll_is_exact_and_masks_invalid_paths():
    torch.manual_seed(0)
    crf = CRF(LABELS)
    with torch.no_grad():
        crf.start.normal_()
        crf.trans.normal_()
    n = 3
    em = torch.randn(1, n, len(LABELS))
    start, trans = crf.scores()

    def score(p):
        return (
            start[p[0]]
            + sum(em[0, t, p[t]] for t in range(n))
            + sum(trans[p[t - 1], p[t]] for t in range(1, n))
        )

    log_z = torch.logsumexp(torch.stack([score(p) for p in _valid_paths(n)]), 0)
    gold = (1, 2, 0)
    nll = crf.nll(em, torch.tensor([gold]), torch.ones(1, n, dtype=torch.bool))
    assert torch.allclose(nll, log_z - score(gold), atol=1e-4)  # invalid paths carry ~0 mass


def test_crf_segments_of_different_lengths_are_masked():
    crf = CRF(LABELS)
    em = torch.randn(2, 3, len(LABELS))
    tags = torch.tensor([[1, 2, 0], [3, 0, 0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    both = crf.nll(em, tags, mask)
    one = crf.nll(em[:1], tags[:1], mask[:1]) + crf.nll(em[1:, :1], tags[1:, :1], mask[1:, :1])
    assert torch.allclose(both, one, atol=1e-5)


def test_segments_group_labelled_words_by_sentence_within_a_row():
    labels = torch.full((2, 8), -100)
    labels[0, [1, 2, 4, 5]] = 1
    labels[1, [1, 3]] = 0
    rows, pos, layout, mask = segments(labels, [[1, 2, 4, 5], [1, 3]], [[0, 0, 1, 1], [7, 7]])
    assert layout.shape == (3, 2) and mask.all()
    assert [(int(rows[i]), int(pos[i])) for i in layout[0]] == [(0, 1), (0, 2)]
    assert [(int(rows[i]), int(pos[i])) for i in layout[2]] == [(1, 1), (1, 3)]
