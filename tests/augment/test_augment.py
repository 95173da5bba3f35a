"""Augmentation itself: labels preserved, seeds, the fraction replaced, whole-word replacement, and
entity swap within type."""

from __future__ import annotations

import pytest

from rawtune.augmentation.plan import Sentence, augment, replaceable
from rawtune.augmentation.swap import mentions


@pytest.fixture(scope="module")
def replacer(tiny_mlm):
    from rawtune.augmentation.mlm import Replacer
    from rawtune.config.model import ModelConfig
    from rawtune.modeling.mlm import load_masked_lm

    model, tok = load_masked_lm(str(tiny_mlm), ModelConfig(), "test")
    return Replacer(model, tok, top_k=20, temperature=1.0, max_length=128)


@pytest.fixture(scope="module")
def sentences(ner_data):
    from rawtune.data.readers.labeled import read_token_file

    data = read_token_file(str(ner_data["train"]))
    return [Sentence(list(ex.tokens), list(ex.tags)) for ex in data.examples]


def _run(sentences, replacer, **kw):
    opts = {"factor": 3, "methods": ["mlm"], "seed": 0, "fraction": 0.3, "replacer": replacer, **kw}
    return augment(sentences, **opts)


def _valid_iob2(tags):
    return all(not t.startswith("I-") or (i > 0 and tags[i - 1][2:] == t[2:]) for i, t in enumerate(tags))


def test_mlm_keeps_entity_words_and_all_tags(sentences, replacer):
    copies, counts = _run(sentences, replacer)
    assert len(copies) == 3 * len(sentences) and counts.examples_out == 4 * len(sentences)
    touched = 0
    for cp in copies:
        src = sentences[cp.example]
        assert cp.tags == src.tags and len(cp.words) == len(src.words)
        allowed = set(replaceable(src.words, src.tags))
        for i, (old, new) in enumerate(zip(src.words, cp.words)):
            if old != new:
                touched += 1
                assert i in allowed, (src.words, cp.words)  # never an entity word, never punctuation
                assert src.tags[i] == "O"
    assert touched == counts.words_replaced > 0


def test_replacements_are_other_whole_words_in_the_same_case(sentences, replacer):
    copies, _ = _run(sentences, replacer)
    special = set(replacer.tokenizer.all_special_tokens)
    for cp in copies:
        src = sentences[cp.example]
        for i in cp.replaced:
            old, new = src.words[i], cp.words[i]
            assert new.isalpha() and new not in special and "#" not in new
            assert new.lower() != old.lower()  # never the original word
            assert len(new) > 1 or len(old) == 1  # a single letter only for a single letter
            assert new[0].isupper() == old[0].isupper()


def test_same_seed_same_copies_other_seed_different(sentences, replacer):
    a, ca = _run(sentences[:20], replacer, seed=5)
    b, cb = _run(sentences[:20], replacer, seed=5, batch_size=3)  # batching does not change a result
    c, _ = _run(sentences[:20], replacer, seed=6)
    assert [(x.words, x.tags) for x in a] == [(x.words, x.tags) for x in b] and ca == cb
    assert [x.words for x in a] != [x.words for x in c]


@pytest.mark.parametrize("fraction", [0.15, 0.5])
def test_changes_the_requested_fraction_of_the_other_words(sentences, replacer, fraction):
    copies, counts = _run(sentences, replacer, factor=4, fraction=fraction)
    changed = sum(a != b for cp in copies for a, b in zip(cp.words, sentences[cp.example].words))
    replaceable_words = sum(len(replaceable(s.words, s.tags)) for s in sentences) * 4
    assert counts.replaceable_words == replaceable_words
    assert changed == counts.words_replaced
    assert abs(changed / replaceable_words - fraction) < 0.04, changed / replaceable_words
    assert counts.summary()["fraction_replaced"] == pytest.approx(changed / replaceable_words)


def test_words_of_several_subwords_are_replaced_whole(replacer):
    from rawtune.augmentation.mlm import Request
    from rawtune.augmentation.seeds import copy_generator

    tok = replacer.tokenizer
    long_words = ["zyxwvutsr", "qqqpppmmm", "cardiomyopathy", "kalomitresu"]
    assert all(len(tok.tokenize(w)) > 1 for w in long_words)
    words = ["the", *long_words, "was", "found", "."]
    positions = [1, 2, 3, 4, 6]
    other = Request(["a", "small", "group"], [1], copy_generator(1, 1, 0))
    alone = replacer.fill([Request(words, positions, copy_generator(1, 0, 0))], batch_size=1)[0]
    batched = replacer.fill([other, Request(words, positions, copy_generator(1, 0, 0))], batch_size=2)[1]
    assert alone == batched  # one mask per word, so the masks of a batch line up with the positions
    assert len(alone) == len(positions) and all(w is not None and w.isalpha() for w in alone)
    assert all(w.lower() in replacer.vocab.by_text for w in alone)


def test_entity_swap_keeps_types_and_valid_bio(sentences):
    copies, counts = augment(sentences, factor=3, methods=["swap"], seed=0, fraction=0.15, swap_prob=0.5)
    bank = {}
    for s in sentences:
        for kind, a, b in mentions(s.tags):
            bank.setdefault(kind, set()).add(tuple(s.words[a:b]))
    lengths_changed = 0
    for cp in copies:
        src = sentences[cp.example]
        assert _valid_iob2(cp.tags)
        got, want = mentions(cp.tags), mentions(src.tags)
        assert [k for k, _, _ in got] == [k for k, _, _ in want]  # same types, same order
        for kind, a, b in got:
            assert tuple(cp.words[a:b]) in bank[kind]  # a mention of that type seen in the data
            assert cp.tags[a] == f"B-{kind}" and all(t == f"I-{kind}" for t in cp.tags[a + 1 : b])
        outside = [w for w, t in zip(cp.words, cp.tags) if t == "O"]
        assert outside == [w for w, t in zip(src.words, src.tags) if t == "O"]  # swap only
        lengths_changed += len(cp.words) != len(src.words)
    assert 0 < counts.entities_swapped < counts.entity_mentions
    assert counts.entities_swapped / counts.entity_mentions == pytest.approx(0.5, abs=0.1)
    assert lengths_changed > 0  # mentions of other lengths are re-tagged, not truncated


def test_swap_and_mlm_together(sentences, replacer):
    copies, counts = _run(sentences, replacer, methods=["mlm", "swap"], swap_prob=0.5)
    assert counts.entities_swapped > 0 and counts.words_replaced > 0
    for cp in copies:
        assert _valid_iob2(cp.tags)
        src = sentences[cp.example]
        assert [k for k, _, _ in mentions(cp.tags)] == [k for k, _, _ in mentions(src.tags)]
        for i in cp.replaced:
            assert cp.tags[i] == "O"


def test_bpe_vocabulary_offers_whole_words_only(tiny_bpe_tokenizer):
    from rawtune.augmentation.vocab import ReplacementVocab, match_case

    tok = tiny_bpe_tokenizer
    vocab = ReplacementVocab(tok, len(tok))
    assert vocab.size > 20
    special = set(tok.all_special_ids)
    for i, text in vocab.texts.items():
        assert i not in special and text.isalpha()
        assert tok.convert_ids_to_tokens(i).startswith("Ġ")  # a word-start piece, not a continuation
    assert int(vocab.valid.sum()) == vocab.size
    assert (match_case("The", "a"), match_case("USA", "uk"), match_case("dog", "Cat")) == ("A", "UK", "cat")


def test_runs_without_augmentation_keep_their_config_fingerprint(tmp_path, ner_data, tiny_backbone):
    import yaml

    from rawtune.config.identity import check_same_config, config_fingerprint
    from rawtune.config.loader import load_config

    base = {"task": {"name": "ner"}, "model": {"name_or_path": str(tiny_backbone)}, "output": str(tmp_path / "r"),
            "data": {"train": str(ner_data["train"])}}  # fmt: skip
    cfg = load_config("finetune", base=base)
    old = cfg.model_dump(mode="json")
    del old["data"]["augment"]  # a config.yaml written before the section existed
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    check_same_config(tmp_path / "config.yaml", cfg)  # resumes: no difference
    on = load_config("finetune", base={**base, "data": {**base["data"], "augment": {"factor": 2}}})
    assert config_fingerprint(on) != config_fingerprint(cfg)
    frac = load_config(
        "finetune", base={**base, "data": {**base["data"], "augment": {"factor": 2, "fraction": 0.3}}}
    )
    assert config_fingerprint(frac) != config_fingerprint(on)
    with pytest.raises(Exception, match=r"data\.augment\.factor"):
        check_same_config(tmp_path / "config.yaml", on)
