"""Data statistics written to RUN/data_stats.json: label distributions, lengths, repairs, windows."""

from __future__ import annotations

from rawtune.data.readers.labeled import read_text_table, read_token_file
from rawtune.evaluation.datastats import data_statistics


def test_ner_statistics_count_entities_tags_lengths_and_repairs(tmp_path):
    path = tmp_path / "t.conll"
    # the second sentence starts an entity with I-ORG: repaired to B-ORG and counted
    path.write_text("Maria B-PER\nLopez I-PER\nin O\nParis B-LOC\n\nAcme I-ORG\nsaid O\n\nok O\n")
    data = read_token_file(str(path), repair=True)
    features = [{"input_ids": [0] * n} for n in (6, 4, 3)]
    stats = data_statistics({"train": data}, features, max_length=5)["train"]
    assert stats["examples"] == 3 and stats["repairs"] == 1
    assert stats["entities"] == {"PER": 1, "LOC": 1, "ORG": 1}
    assert stats["tags"]["O"] == 3 and stats["tags"]["B-ORG"] == 1
    assert stats["sentences_without_entities"] == 1
    assert stats["words"] == {"min": 1, "mean": 2.33, "median": 2, "p95": 4, "max": 4}
    assert stats["windows"] == 3 and stats["windows_at_max_length"] == 1  # one window hit max_length


def test_classification_statistics_count_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\na b c,pos\nd e,neg\nf,pos\n")
    stats = data_statistics({"dev": read_text_table(str(path))})["dev"]
    assert stats["labels"] == {"pos": 2, "neg": 1}
    assert stats["words"]["max"] == 3 and "windows" not in stats
