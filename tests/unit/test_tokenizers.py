from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from rawtune.config.schema import DataConfig
from rawtune.data.tokenization import tokenizer_fingerprint
from rawtune.errors import DataError, RunDirError
from rawtune.modeling.tokenizers import add_domain_words, train_tokenizer

SENTENCE = "The patient showed a high risk of cardiomyopathy after the first trial."
DOMAIN_WORD = "cardiomyopathy"  # tests/conftest.py puts it in every 10th sentence (20 times)
FRAMES = {"wordpiece": ("[CLS]", "[SEP]"), "unigram": ("[CLS]", "[SEP]"), "bpe": ("<s>", "</s>")}


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram"])
def test_each_type_trains_saves_and_reloads_offline(tiny_corpus_dir, tmp_path, kind):
    out = tmp_path / kind
    trained = train_tokenizer([str(tiny_corpus_dir)], out, type=kind, vocab_size=400, model_max_length=64)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.is_fast and tok.model_max_length == 64 and len(tok) <= 400
    assert tok.get_vocab() == trained.get_vocab()
    for role in ("mask_token", "pad_token", "unk_token", "cls_token", "sep_token"):
        assert getattr(tok, role) is not None and getattr(tok, role + "_id") is not None, role
    ids = tok(SENTENCE)["input_ids"]
    assert tok.convert_ids_to_tokens([ids[0], ids[-1]]) == list(FRAMES[kind])
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == SENTENCE.lower()
    assert not list(out.parent.glob(".tmp-*"))  # written atomically, no leftovers


def test_cased_tokenizer_keeps_case(tiny_corpus_dir, tmp_path):
    tok = train_tokenizer([str(tiny_corpus_dir)], tmp_path / "cased", vocab_size=300, lowercase=False)
    assert tok.decode(tok("The patient")["input_ids"], skip_special_tokens=True) == "The patient"


def test_reads_through_data_config(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"body": "alpha beta"}\n{"body": "gamma"}\n')
    tok = train_tokenizer(
        [str(tmp_path / "a.jsonl")],
        tmp_path / "t",
        vocab_size=100,
        min_frequency=1,
        data_cfg=DataConfig(text_field="body"),
    )
    assert tok.tokenize("alpha gamma") == ["alpha", "gamma"]


def test_refuses_non_empty_output_and_empty_corpus(tiny_corpus_dir, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunDirError, match="busy"):
        train_tokenizer([str(tiny_corpus_dir)], out, vocab_size=300)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (tmp_path / "empty_ok").mkdir()
    assert (
        train_tokenizer([str(tiny_corpus_dir)], tmp_path / "empty_ok", vocab_size=300).mask_token == "[MASK]"
    )
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="no text to train a tokenizer on"):
        train_tokenizer([str(tmp_path / "blank.txt")], tmp_path / "never", vocab_size=300)
    assert not (tmp_path / "never").exists()


def corpus_lines(root) -> list[str]:
    return [line for f in sorted(root.rglob("*.txt")) for line in f.read_text().splitlines()]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_add_domain_words_makes_frequent_split_words_one_piece(tiny_corpus_dir, tmp_path, kind):
    texts = corpus_lines(tiny_corpus_dir)
    general = tmp_path / "general.txt"  # a "general-domain" tokenizer that never saw the domain word
    general.write_text("\n".join(t for t in texts if DOMAIN_WORD not in t.lower()))
    train_tokenizer(
        [str(general)], tmp_path / kind, type=kind, vocab_size=300 if kind == "wordpiece" else 600
    )
    tok = AutoTokenizer.from_pretrained(tmp_path / kind)
    before_len, before_fp = len(tok), tokenizer_fingerprint(tok)
    assert len(tok.tokenize("the " + DOMAIN_WORD)) >= 3
    added = add_domain_words(tok, texts, max_words=20, min_count=15)
    assert DOMAIN_WORD in added and len(tok) == before_len + len(added)
    assert tokenizer_fingerprint(tok) != before_fp
    ids = tok(f"The {DOMAIN_WORD.title()}, {DOMAIN_WORD} and {DOMAIN_WORD}x.")["input_ids"]
    new_id = tok.convert_tokens_to_ids(DOMAIN_WORD)
    assert ids.count(new_id) == 2  # matched after lowercasing, and as a whole word only
    assert len(tok.tokenize("the " + DOMAIN_WORD)) == 2
    assert add_domain_words(tok, texts, max_words=3, min_count=10**6) == []
    assert add_domain_words(tok, texts, max_words=0, min_count=1) == []


def test_add_domain_words_takes_only_split_words_most_frequent_first(tiny_tokenizer, tiny_corpus_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer.name_or_path)  # a private copy of the shared fixture
    texts = corpus_lines(tiny_corpus_dir)
    pieces = {
        w: len(tok.tokenize(w))
        for t in texts
        for w in tok.backend_tokenizer.normalizer.normalize_str(t).replace(".", " ").split()
    }
    added = add_domain_words(tok, texts, max_words=5, min_count=5)
    assert len(added) == 5 and all(pieces[w] >= 2 for w in added)
    assert all(len(tok.tokenize(w)) == 1 for w in added)
    texts = ["zyxwvutq"] * 5 + ["qwertzuiop"] * 9 + ["asdfghjk"] * 7  # letters the vocabulary lacks: [UNK]
    assert add_domain_words(tok, texts, max_words=2, min_count=5) == ["qwertzuiop", "asdfghjk"]
    assert tok.tokenize("qwertzuiop asdfghjk zyxwvutq")[:2] == ["qwertzuiop", "asdfghjk"]
