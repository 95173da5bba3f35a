"""Pseudo-label files: written in a layout `finetune` reads with the run's own reader settings (CoNLL
columns and scheme, table columns), statistics written last with the file's sha256, and reuse only
when the fingerprint and the file's content both match."""

from __future__ import annotations

import json

import pytest

from rawtune.config.schema import LabeledDataConfig
from rawtune.runs import faults
from rawtune.selftrain import pseudo

NER = [
    {"tokens": ["Maria", "Lopez", "won", "."], "tags": ["B-PER", "I-PER", "O", "O"]},
    {"tokens": ["It", "rained", "in", "Paris"], "tags": ["O", "O", "O", "B-LOC"]},
]


@pytest.mark.parametrize(
    ("token_column", "tag_column", "layout"),
    [(0, -1, (2, 0, 1)), (0, 3, (4, 0, 3)), (1, 0, (2, 1, 0)), (0, -2, (3, 0, 1)), (-1, 0, (2, 1, 0))],
)
def test_conll_layout_puts_word_and_tag_where_the_reader_looks(token_column, tag_column, layout) -> None:
    assert pseudo.conll_layout(token_column, tag_column) == layout


@pytest.mark.parametrize(
    "data",
    [{}, {"token_column": 0, "tag_column": 3}, {"scheme": "bioes"}, {"scheme": "iob1", "tag_column": -2}],
)
def test_ner_pseudo_labels_read_back_as_written(tmp_path, data) -> None:
    from rawtune.data.readers.labeled import read_token_file

    d = LabeledDataConfig(**data)
    file, stats_path = pseudo.paths(tmp_path, 1, "ner")
    stats = pseudo.write(file, stats_path, NER, [0, 1], d, {"round": 1, "fingerprint": "f"})
    read = read_token_file(str(file), token_column=d.token_column, tag_column=d.tag_column, scheme=d.scheme)
    assert [(ex.tokens, ex.tags) for ex in read.examples] == [(r["tokens"], r["tags"]) for r in NER]
    assert all(ex.doc is None for ex in read.examples)  # each sentence alone
    assert json.loads(stats_path.read_text()) == stats and stats["file"] == "round-1.conll"


def test_classification_pseudo_labels_use_the_runs_columns(tmp_path) -> None:
    from rawtune.data.readers.labeled import read_text_table

    d = LabeledDataConfig(text_column="review", label_column="stars")
    rows = [{"text": 'said "no", then left\nquickly', "label": "neg"}, {"text": "fine", "label": "pos"}]
    file, stats_path = pseudo.paths(tmp_path, 2, "classification")
    pseudo.write(file, stats_path, rows, [1, 0], d, {})
    read = read_text_table(str(file), text_column="review", label_column="stars")
    assert [(ex.text, ex.label) for ex in read.examples] == [("fine", "pos"), (rows[0]["text"], "neg")]
    assert file.name == "round-2.csv" and stats_path.name == "round-2.json"


def test_only_a_file_its_statistics_vouch_for_is_reused(tmp_path) -> None:
    file, stats_path = pseudo.paths(tmp_path, 1, "ner")
    assert pseudo.reusable(stats_path, file, "fp") is None
    stats = pseudo.write(file, stats_path, NER, [0], LabeledDataConfig(), {"fingerprint": "fp"})
    assert pseudo.reusable(stats_path, file, "fp") == stats
    assert pseudo.reusable(stats_path, file, "other") is None  # another teacher, text or option
    file.write_text(file.read_text().replace("B-PER", "B-LOC"))
    assert pseudo.reusable(stats_path, file, "fp") is None  # edited since


def test_a_failure_after_the_file_leaves_no_statistics(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(faults.ENV, "selftrain.labels=enospc")
    monkeypatch.setattr(faults, "_hits", {})
    file, stats_path = pseudo.paths(tmp_path, 1, "ner")
    with pytest.raises(OSError):
        pseudo.write(file, stats_path, NER, [0], LabeledDataConfig(), {"fingerprint": "fp"})
    assert file.is_file() and not stats_path.exists()
    assert pseudo.reusable(stats_path, file, "fp") is None


def test_the_fingerprint_follows_teacher_units_and_options(tmp_path) -> None:
    from rawtune.selftrain.unlabeled import Unit

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "w.bin").write_bytes(b"weights")
    units = [Unit("a b c", "f:1")]
    fp = pseudo.fingerprint(tmp_path / "t", units, {"threshold": 0.9})
    assert fp == pseudo.fingerprint(tmp_path / "t", units, {"threshold": 0.9})
    assert fp != pseudo.fingerprint(tmp_path / "t", units, {"threshold": 0.8})
    assert fp != pseudo.fingerprint(tmp_path / "t", [Unit("a b d", "f:1")], {"threshold": 0.9})
    (tmp_path / "t" / "w.bin").write_bytes(b"weights 2")
    assert fp != pseudo.fingerprint(tmp_path / "t", units, {"threshold": 0.9})
