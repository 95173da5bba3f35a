"""NER windowing: every word of a sentence longer than the model's window is predicted exactly once,
and word-level decoding returns one tag per input word."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from rawtune.tasks.features import PadCollator, forward_batches, windows
from rawtune.tasks.token_classification import WordDecoder, encode_tokens


def test_windows_cover_everything_with_overlap():
    for n in (0, 1, 7, 8, 9, 30, 31, 100):
        spans = windows(n, 8, 3)
        covered = set()
        for s, e in spans:
            assert e - s <= 8
            covered |= set(range(s, e))
        assert covered == set(range(n))
        for (_s1, e1), (s2, _e2) in itertools.pairwise(spans):
            assert e1 - s2 == 3  # neighbours share exactly `stride` items


def test_long_sentence_every_word_decoded(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    words = (
        [
            "Maria",
            "Lopez",
            "met",
            "officials",
            "from",
            "Northwind",
            "Bank",
            "in",
            "Paris",
            "on",
            "Monday",
            ".",
        ]
    ) * 6  # ~3x16 pieces
    tags = [i % 3 for i in range(len(words))]
    enc = encode_tokens(tok, [words], [tags], max_length=16, stride=4)
    assert enc.windows_per_sentence[0] >= 3
    seen = {w for f in enc.features for w in f["words"]}
    assert seen == set(range(len(words)))
    for f in enc.features:
        assert len(f["input_ids"]) <= 16
        labelled = [i for i, lab in enumerate(f["labels"]) if lab != -100]
        assert labelled == f["positions"]
        assert [f["labels"][p] for p in f["positions"]] == [tags[w] for w in f["words"]]

    class Echo(torch.nn.Module):
        """Predicts, at every position, the label the collator put there (so decoding is checkable)."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask, **_):
            logits = torch.zeros(*input_ids.shape, 3)
            logits[..., 0] = 1.0
            return type("Out", (), {"logits": logits})()

    dec = WordDecoder(enc, outside_id=0)
    forward_batches(Echo(), enc.features, PadCollator(tok.pad_token_id), 4, dec)
    assert len(dec.tags[0]) == len(words)
    assert (dec.best[0] >= 0).all()  # each word came from some window


def test_word_without_subtokens_is_predicted_outside(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    words = ["Paris", "\u200b", "Berlin"]
    enc = encode_tokens(tok, [words], [[1, 2, 1]], max_length=16, stride=4)
    assert enc.uncovered == 1
    dec = WordDecoder(enc, outside_id=0)
    assert len(dec.tags[0]) == 3 and dec.tags[0][1] == 0 and np.all(dec.best[0][[0, 2]] == -1)


def test_doc_context_fills_window_but_is_not_scored(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    sents = [["Paris", "is", "big"], ["Oslo", "is", "cold"], ["Lima", "is", "far"]]
    tags = [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    plain = encode_tokens(tok, sents, tags, max_length=32, stride=4)
    ctx = encode_tokens(tok, sents, tags, max_length=32, stride=4, docs=[0, 0, 0])
    mid_plain, mid_ctx = plain.features[1], ctx.features[1]
    assert len(mid_ctx["input_ids"]) > len(mid_plain["input_ids"])
    assert sum(lab != -100 for lab in mid_ctx["labels"]) == sum(lab != -100 for lab in mid_plain["labels"])
    assert [mid_ctx["input_ids"][p] for p in mid_ctx["positions"]] == [
        mid_plain["input_ids"][p] for p in mid_plain["positions"]
    ]
