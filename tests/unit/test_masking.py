"""MLM masking: per-sample determinism, rates, 80/10/10, whole words never split."""

from __future__ import annotations

import numpy as np

from rawtune.config.schema import ObjectiveConfig
from rawtune.tasks.masking import IGNORE, mask_tokens

MASK, VOCAB = 4, 1000


def _seq(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(10, VOCAB, n)
    starts = rng.random(n) < 0.6
    starts[0] = True
    maskable = np.ones(n, bool)
    maskable[[0, n - 1]] = False  # [CLS] ... [SEP]
    return ids, starts, maskable


def test_same_seed_same_mask_and_rates():
    ids, starts, maskable = _seq()
    cfg = ObjectiveConfig()
    a = mask_tokens(ids, starts, maskable, np.random.default_rng([1, 2, 3]), cfg, MASK, VOCAB)
    b = mask_tokens(ids, starts, maskable, np.random.default_rng([1, 2, 3]), cfg, MASK, VOCAB)
    c = mask_tokens(ids, starts, maskable, np.random.default_rng([1, 2, 4]), cfg, MASK, VOCAB)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    inputs, labels = a
    sel = labels != IGNORE
    assert 0.13 < sel.mean() < 0.17
    assert not sel[0] and not sel[-1]  # special tokens never selected
    assert np.array_equal(labels[sel], ids[sel])
    frac_mask = (inputs[sel] == MASK).mean()
    frac_kept = (inputs[sel] == ids[sel]).mean()
    assert 0.75 < frac_mask < 0.85 and 0.07 < frac_kept < 0.14
    assert np.array_equal(inputs[~sel], ids[~sel])  # unselected tokens untouched


def test_whole_word_masking_never_splits_a_word():
    ids, starts, maskable = _seq()
    cfg = ObjectiveConfig(whole_word=True)
    for s in range(20):
        _, labels = mask_tokens(ids, starts, maskable, np.random.default_rng(s), cfg, MASK, VOCAB)
        sel = labels != IGNORE
        word = np.cumsum(starts)
        for w in np.unique(word[sel]):
            members = (word == w) & maskable
            assert sel[members].all(), f"word {w} partially masked"


def test_every_sequence_gets_a_target():
    ids = np.array([1, 50, 2])
    maskable = np.array([False, True, False])
    cfg = ObjectiveConfig(mask_rate=0.01)
    for s in range(10):
        _, labels = mask_tokens(ids, np.ones(3, bool), maskable, np.random.default_rng(s), cfg, MASK, VOCAB)
        assert labels.tolist() == [IGNORE, 50, IGNORE]
