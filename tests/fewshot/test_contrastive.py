"""Pair generation and the cosine-similarity objective."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from rawtune.tasks.contrastive import CosinePairLoss, LogisticHead, PairCollator, make_pairs, mean_pool


def test_pairs_balanced_right_partners_deterministic():
    labels = ["a", "b", "a", "c", "b", "a", "c", "b"]
    pairs = make_pairs(labels, iterations=4, seed=1)
    assert Counter(t for _, _, t in pairs) == {1.0: 32, 0.0: 32}
    assert Counter(i for i, _, _ in pairs) == dict.fromkeys(range(8), 8)  # every example, every round
    for i, j, t in pairs:
        assert (labels[i] == labels[j]) == (t == 1.0)
        assert t == 0.0 or i != j  # a positive partner is another example when the class has one
    assert pairs == make_pairs(labels, iterations=4, seed=1)
    assert pairs != make_pairs(labels, iterations=4, seed=2)


def test_pairs_need_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        make_pairs(["a", "a"], 1, 0)


class _Enc(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)

    def forward(self, input_ids, attention_mask):
        return type("O", (), {"last_hidden_state": self.emb(input_ids)})()


def test_cosine_loss_is_mse_to_targets_and_ignores_padding():
    enc = _Enc()
    batch = PairCollator(0)(
        [{"a": [1, 2], "b": [1, 2, 3], "target": 1.0}, {"a": [4], "b": [5, 6], "target": 0.0}]
    )
    assert batch["input_ids"].shape == (4, 3) and batch["attention_mask"].sum() == 8
    out = CosinePairLoss(enc)(**batch)
    h = enc.emb(batch["input_ids"])
    e = mean_pool(h, batch["attention_mask"])
    cos = torch.nn.functional.cosine_similarity(e[:2], e[2:], dim=-1)
    expected = ((cos - batch["target"]) ** 2).mean()
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["count"] == 2 and out["loss_sum"] == pytest.approx(2 * expected.item(), rel=1e-5)
    # the pooled embedding of [1, 2] does not see the padding position
    assert torch.allclose(e[0], h[0, :2].mean(0))


def test_logistic_head_round_trips_without_pickle():
    import numpy as np

    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    head = LogisticHead.fit(x, ["pos", "pos", "neg", "neg"], c=10.0)
    again = LogisticHead.from_json(head.to_json())
    assert again.predict(x) == ["pos", "pos", "neg", "neg"]
    assert np.allclose(again.scores(x).sum(1), 1.0)
