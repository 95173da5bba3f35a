"""NER windowing: every word of a sentence (or document) longer than the model's window is predicted
and trained exactly once, in the window where it is most central, and word-level decoding returns
one tag per input word."""

from __future__ import annotations

import itertools

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
    seen = [w for f in enc.features for w in f["words"]]
    assert sorted(seen) == list(range(len(words)))  # each word predicted from exactly one window
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

    dec = WordDecoder(enc, ["O", "B-X", "I-X"], decode="argmax")
    forward_batches(Echo(), enc.features, PadCollator(tok.pad_token_id), 4, dec)
    dec.finish()
    assert len(dec.tags[0]) == len(words)
    assert (dec.scores[0][:, 0] > dec.scores[0][:, 1]).all()  # each word's scores came from a window


def test_word_without_subtokens_is_predicted_outside(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    words = ["Paris", "\u200b", "Berlin"]
    enc = encode_tokens(tok, [words], [[1, 2, 1]], max_length=16, stride=4)
    assert enc.uncovered == 1
    dec = WordDecoder(enc, ["O", "B-X", "I-X"]).finish()  # no forward pass: nothing predicted yet
    assert len(dec.tags[0]) == 3 and dec.tags[0][1] == 0
    assert enc.features[0]["words"] == [0, 2]  # the word with no sub-token is in no window


def test_doc_context_reads_neighbours_and_scores_each_word_once(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    sents = [["Paris", "is", "big"], ["Oslo", "is", "cold"], ["Lima", "is", "far"]]
    tags = [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    plain = encode_tokens(tok, sents, tags, max_length=32, stride=4)
    ctx = encode_tokens(tok, sents, tags, max_length=32, stride=4, docs=[0, 0, 0])
    assert len(plain.features) == 3 and len(ctx.features) == 1  # one window holds the document
    only = ctx.features[0]
    assert sorted(zip(only["sentences"], only["words"])) == [(s, w) for s in range(3) for w in range(3)]
    assert sum(lab != -100 for lab in only["labels"]) == 9
    # the middle sentence's words are the same sub-tokens, now with its neighbours around them
    mid = [p for p, s in zip(only["positions"], only["sentences"]) if s == 1]
    assert [only["input_ids"][p] for p in mid] == [
        plain.features[1]["input_ids"][p] for p in plain.features[1]["positions"]
    ]
    assert min(mid) > 1 and max(mid) < len(only["input_ids"]) - 2


def test_long_document_overlap_each_word_at_its_most_central_window(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    sents = [["Maria", "met", "officials", "in", "Paris", "."]] * 8
    tags = [[1, 0, 0, 0, 1, 0]] * 8
    enc = encode_tokens(tok, sents, tags, max_length=16, stride=6, docs=[0] * 8)
    assert len(enc.features) > 3
    seen = sorted((s, w) for f in enc.features for s, w in zip(f["sentences"], f["words"]))
    assert seen == [(s, w) for s in range(8) for w in range(6)]
    for f in enc.features:
        labelled = [i for i, lab in enumerate(f["labels"]) if lab != -100]
        assert labelled == f["positions"]
        inner = [p for p in f["positions"]]
        n = len(f["input_ids"])
        # a word is predicted where it has context on both sides, except at the document's ends
        if f is not enc.features[0] and f is not enc.features[-1]:
            assert min(inner) >= 1 + 6 // 2 - 1 and max(inner) <= n - 2 - (6 // 2 - 1)
