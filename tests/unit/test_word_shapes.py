"""Case features: word shapes, the lowercasing probe, and the grown token-type table that leaves the
untrained model's output unchanged and survives save_pretrained / AutoModel loading."""

from __future__ import annotations

import torch

from rawtune.modeling.word_shapes import (
    DIGITS,
    INITIAL_TITLE,
    LOWER,
    MIXED,
    PUNCT,
    SHAPES,
    TITLE,
    UPPER,
    add_word_shapes,
    lowercases,
    sentence_shapes,
    uses_shapes,
    word_shape,
)


def test_word_shapes():
    assert [word_shape(w) for w in ("apple", "Apple", "APPLE", "iPhone", "1996", ",", "F-16", "J.", "EU")] == [
        LOWER, TITLE, UPPER, MIXED, DIGITS, PUNCT, MIXED, TITLE, UPPER,
    ]  # fmt: skip
    assert sentence_shapes(["Germany", "beat", "Italy", "3-0", "."]) == [
        INITIAL_TITLE,
        LOWER,
        TITLE,
        DIGITS,
        PUNCT,
    ]


def test_lowercasing_probe(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    assert lowercases(load_tokenizer(str(tiny_backbone)))  # trained uncased


def test_grown_table_keeps_outputs_and_loads_plainly(tiny_backbone, tmp_path):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(tiny_backbone), num_labels=3).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    before = model(input_ids=ids).logits
    assert add_word_shapes(model) and uses_shapes(model)
    types = torch.tensor([[0, INITIAL_TITLE, UPPER, DIGITS, 0]])
    after = model(input_ids=ids, token_type_ids=types).logits
    assert torch.allclose(before, after, atol=1e-6)  # every new row starts as the old segment-0 row
    model.save_pretrained(tmp_path)
    loaded = AutoModelForTokenClassification.from_pretrained(str(tmp_path)).eval()
    assert loaded.config.type_vocab_size == len(SHAPES) and loaded.config.word_shapes == list(SHAPES)
    assert torch.allclose(loaded(input_ids=ids, token_type_ids=types).logits, after, atol=1e-6)
