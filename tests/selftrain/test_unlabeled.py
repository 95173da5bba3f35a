"""Reading the raw text a teacher labels: pretrain's corpus readers (formats, globs, file:line errors,
bad_lines), sentence and word splitting as predict does it, filters, de-duplication, the labeled data
left out, the max_unlabeled cap, and the error when nothing is left."""

from __future__ import annotations

import json

import pytest

from rawtune.config.selftrain import RawTextConfig
from rawtune.errors import DataError
from rawtune.selftrain.unlabeled import labeled_keys, read_units, words_key


def texts(units) -> list[str]:
    return [u.text for u in units]


def test_sentences_are_split_filtered_deduplicated_and_traced_to_their_line(tmp_path) -> None:
    (tmp_path / "a.txt").write_text(
        "Maria Lopez visited Paris. It rained  there. Ok.\n\nMaria Lopez visited Paris. Apex Motors grew.\n"
    )
    units, counts = read_units([str(tmp_path / "a.txt")], RawTextConfig(), sentences=True, limit=100)
    assert texts(units) == ["Maria Lopez visited Paris.", "It rained there.", "Apex Motors grew."]
    assert [u.source for u in units] == [
        f"{tmp_path / 'a.txt'}:1",
        f"{tmp_path / 'a.txt'}:1",
        f"{tmp_path / 'a.txt'}:3",
    ]
    assert (counts.documents, counts.units, counts.too_short, counts.repeated, counts.kept) == (2, 5, 1, 1, 3)


def test_labeled_sentences_long_ones_and_the_cap(tmp_path) -> None:
    (tmp_path / "a.txt").write_text(
        "one two three.\nfour five six.\n" + " ".join(["w"] * 30) + "\nseven eight nine.\n"
    )
    raw = RawTextConfig(max_words=20)
    exclude = {words_key("four five six.")}
    units, counts = read_units([str(tmp_path / "a.txt")], raw, sentences=True, limit=100, exclude=exclude)
    assert texts(units) == ["one two three.", "seven eight nine."]
    assert counts.in_labeled_data == 1 and counts.too_long == 1 and not counts.capped
    units, counts = read_units([str(tmp_path / "a.txt")], raw, sentences=True, limit=1)
    assert texts(units) == ["one two three."] and counts.capped and counts.kept == 1


def test_labeled_keys_are_the_words_of_token_and_text_examples(ner_data, cls_data) -> None:
    from rawtune.data.readers.labeled import read_text_table, read_token_file

    ner = read_token_file(str(ner_data["train"]))
    keys = labeled_keys({"train": ner})
    assert " ".join(ner.examples[0].tokens) in keys
    table = read_text_table(str(cls_data["dev"]), text_column="text", label_column="label")
    assert words_key(table.examples[0].text) in labeled_keys({"dev": table})


def test_every_corpus_format_and_glob_reads(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text(json.dumps({"body": "Paris is big today."}) + "\n")
    (tmp_path / "d" / "b.csv").write_text('body\n"Rome, too, is old."\n')
    raw = RawTextConfig(text_field="body")
    units, _ = read_units([str(tmp_path / "d" / "*")], raw, sentences=True, limit=100)
    assert texts(units) == ["Paris is big today.", "Rome, too, is old."]


def test_bad_lines_stop_the_read_naming_the_line_or_are_skipped_and_counted(tmp_path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"A good line here.\nbroken \xff byte here\nAnother good line.\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: invalid UTF-8"):
        read_units([str(bad)], RawTextConfig(), sentences=True, limit=100)
    units, counts = read_units([str(bad)], RawTextConfig(bad_lines="skip"), sentences=True, limit=100)
    assert len(units) == 2 and counts.skipped_bad_lines == 1 and "bad.txt:2" in counts.first_bad_lines[0]


def test_whole_texts_for_classification(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("Great film. Would watch again.\nDull.\n")
    units, counts = read_units([str(tmp_path / "a.txt")], RawTextConfig(), sentences=False, limit=100)
    assert texts(units) == ["Great film. Would watch again."] and counts.too_short == 1


def test_nothing_left_after_filtering_is_an_error_naming_the_files_and_counts(tmp_path, ner_data) -> None:
    from rawtune.data.readers.labeled import read_token_file

    train = read_token_file(str(ner_data["train"]))
    with pytest.raises(DataError) as e:
        read_units(
            [str(ner_data["raw"])],
            RawTextConfig(),
            sentences=True,
            limit=100,
            exclude=labeled_keys({"t": train}),
        )
    msg = str(e.value)
    assert msg.startswith(
        f"{ner_data['raw']}: no unlabeled text left after filtering: 64 documents, 64 sentences"
    )
    assert "64 in the labeled data" in msg and "\n" not in msg
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match=r"empty\.txt: no unlabeled text: no documents"):
        read_units([str(tmp_path / "empty.txt")], RawTextConfig(), sentences=True, limit=100)
    with pytest.raises(DataError, match=r"nothing-\*\.txt: glob matches no supported files"):
        read_units([str(tmp_path / "nothing-*.txt")], RawTextConfig(), sentences=True, limit=100)
