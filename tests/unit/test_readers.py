from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rawtune.config.schema import DataConfig
from rawtune.data.readers.text import (
    Document,
    iter_documents,
    resolve_sources,
    sources_fingerprint,
    text_lines,
)
from rawtune.errors import DataError

CFG = DataConfig()


def docs(specs: list[str], **kw) -> list[Document]:
    return list(iter_documents(specs, DataConfig(**kw)))


def write(path: Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


def test_txt_lines_keep_line_numbers_bom_and_crlf(tmp_path):
    p = write(tmp_path / "a.txt", "\ufefffirst\r\n\r\nthird  line\n")
    assert docs([p]) == [Document("first", p, 1), Document("", p, 2), Document("third  line", p, 3)]


def test_text_lines_are_the_non_blank_lines_with_their_numbers(tmp_path):
    """Inputs to predict on: blank lines skipped, spaces inside and around a line kept, BOM and CRLF
    dropped; bad bytes are an error at their line, as in every reader."""
    p = write(tmp_path / "in.txt", "\ufeff first \r\n\n   \nsecond\n")
    assert list(text_lines(p)) == [Document(" first ", p, 1), Document("second", p, 4)]
    bad = write(tmp_path / "bad.txt", b"ok\nnot \xff utf-8\n")
    with pytest.raises(DataError, match=r"bad.txt:2: invalid UTF-8"):
        list(text_lines(bad))


def test_txt_paragraphs_join_lines_and_start_line(tmp_path):
    p = write(tmp_path / "a.txt", "one\n  two\n\n\n\nthree\nfour\n   \nfive")
    got = docs([p], document="paragraph")
    assert got == [Document("one two", p, 1), Document("three four", p, 6), Document("five", p, 9)]


def test_jsonl_field_and_blank_lines(tmp_path):
    p = write(tmp_path / "a.jsonl", '{"body": "x", "id": 1}\n\n{"body": "y"}\n')
    assert docs([p], text_field="body") == [Document("x", p, 1), Document("y", p, 3)]


def test_jsonl_invalid_line_names_file_and_line(tmp_path):
    p = write(tmp_path / "a.jsonl", '{"text": "ok"}\n{"text": "fine"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:3: invalid JSON") as e:
        docs([p])
    assert (e.value.file, e.value.line) == (p, 3)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"body": "x"}', "text: missing field (has: body)"),
        ('{"text": 5}', "text: expected a string, got int"),
        ('{"text": null}', "got null"),
        ('["text"]', "expected a JSON object, got list"),
    ],
)
def test_jsonl_bad_field(tmp_path, line, message):
    p = write(tmp_path / "a.jsonl", '{"text": "ok"}\n' + line + "\n")
    with pytest.raises(DataError, match=r"a\.jsonl:2: ") as e:
        docs([p])
    assert message in str(e.value)


def test_csv_text_column_and_multiline_rows(tmp_path):
    p = write(tmp_path / "a.csv", 'id,text\n1,hello\n2,"two\nlines"\n3,bye\n')
    assert docs([p]) == [Document("hello", p, 2), Document("two\nlines", p, 3), Document("bye", p, 5)]


def test_csv_missing_column_lists_columns(tmp_path):
    p = write(tmp_path / "a.csv", "id,body\n1,x\n")
    with pytest.raises(DataError, match=r"a\.csv:1: no column 'text' in the header \(columns: id, body\)"):
        docs([p])


def test_parquet_rows_and_missing_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = str(tmp_path / "a.parquet")
    pq.write_table(pa.table({"text": ["a", "b", "c"], "n": [1, 2, 3]}), p)
    assert docs([p]) == [Document("a", p, 1), Document("b", p, 2), Document("c", p, 3)]
    with pytest.raises(DataError, match=r"a\.parquet: no column 'body' \(columns: text, n\)"):
        docs([p], text_field="body")


@pytest.mark.parametrize(
    ("name", "content"),
    [("a.txt.gz", "x\ny\n"), ("a.jsonl.gz", '{"text": "x"}\n{"text": "y"}\n'), ("a.csv.gz", "text\nx\ny\n")],
)
def test_gzip_of_each_format(tmp_path, name, content):
    p = write(tmp_path / name, content)
    assert [d.text for d in docs([p])] == ["x", "y"]


@pytest.mark.parametrize("name", ["c.txt", "c.txt.gz", "c.jsonl"])
def test_invalid_utf8_names_file_line_byte_and_column(tmp_path, name):
    line3 = b'{"text": "ab\xffc"}' if name.endswith("jsonl") else b"abc\xffdef"
    head = b'{"text": "ok"}\n{"text": "fine"}\n' if name.endswith("jsonl") else b"ok\nfine line\n"
    p = write(tmp_path / name, head + line3 + b"\n")
    byte, col = len(head) + line3.index(b"\xff"), line3.index(b"\xff") + 1
    with pytest.raises(DataError) as e:
        docs([p])
    assert str(e.value) == f"{p}:3: invalid UTF-8 at byte {byte} (column {col})"


@pytest.mark.parametrize("name", ["c.txt", "c.txt.gz", "c.jsonl"])
def test_bad_lines_skip_drops_only_the_bad_lines_and_reports_each(tmp_path, name):
    """data.bad_lines: skip: the invalid-UTF-8 line, the NUL line and (JSONL) the cut last line are
    dropped and reported with file:line; every good line is kept with its own line number."""
    if name.endswith("jsonl"):
        lines = [b'{"text": "one"}', b'{"text": "t\xffo"}', b'{"text": "three"}', b'{"text": "f\x00"}',
                 b'{"text": "five"}', b'{"text": "cut']  # fmt: skip
    else:
        lines = [b"one", b"t\xffo", b"three", b"f\x00ur", b"five"]
    p = write(tmp_path / name, b"\n".join(lines) + b"\n")
    seen: list[DataError] = []
    got = list(iter_documents([p], DataConfig(bad_lines="skip"), seen.append))
    assert [(d.text, d.line) for d in got] == [("one", 1), ("three", 3), ("five", 5)]
    reasons = [str(e) for e in seen]
    assert reasons[0].startswith(f"{p}:2: invalid UTF-8") and reasons[1].startswith(f"{p}:4: NUL byte")
    if name.endswith("jsonl"):
        assert len(reasons) == 3 and reasons[2].startswith(f"{p}:6: invalid JSON")
    else:
        assert len(reasons) == 2
    with pytest.raises(DataError, match=":2: invalid UTF-8"):  # the default still stops at the first
        docs([p])


def test_bad_lines_skip_leaves_csv_strict(tmp_path):
    """A CSV record may span lines, so dropping a line could merge records: CSV keeps the error."""
    p = write(tmp_path / "c.csv", b"text\nok\nb\xffd\n")
    with pytest.raises(DataError, match=":3: invalid UTF-8"):
        docs([p], bad_lines="skip")


def test_directories_recurse_sorted_supported_only_and_globs(tmp_path):
    b = write(tmp_path / "d" / "b.txt", "b\n")
    a = write(tmp_path / "d" / "sub" / "a.jsonl", '{"text": "a"}\n')
    write(tmp_path / "d" / "notes.md", "ignored\n")
    write(tmp_path / "d" / ".hidden.txt", "ignored\n")
    assert resolve_sources([str(tmp_path / "d")]) == [b, a]
    assert resolve_sources([str(tmp_path / "d" / "**" / "*.*")]) == [b, a]
    assert resolve_sources([b, str(tmp_path / "d"), "hf:x/y"]) == [b, a, "hf:x/y"]  # repeats dropped


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.txt", "missing.txt: no such file or directory"),
        ("*.nothing", "glob matches no supported files"),
        ("empty", "empty: directory has no supported files"),
        ("notes.md", "notes.md: unsupported file type"),
    ],
)
def test_bad_specs_are_named(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "readme.md", "x")
    write(tmp_path / "notes.md", "x")
    with pytest.raises(DataError, match=message):
        resolve_sources([spec])


def test_hf_offline_is_a_data_error():
    with pytest.raises(DataError, match=r"could not load hf dataset someone/nothing: .*HF_HUB_OFFLINE=1"):
        docs(["hf:someone/nothing:cfg"])


def test_sources_fingerprint_follows_content_not_path(tmp_path):
    a = write(tmp_path / "a.txt", "same\n")
    b = write(tmp_path / "x" / "b.txt", "same\n")
    c = write(tmp_path / "c.txt", "other\n")
    j = write(tmp_path / "j.jsonl", json.dumps({"text": "same"}) + "\n")
    assert sources_fingerprint([a], CFG) == sources_fingerprint([b], CFG)
    assert len({sources_fingerprint(s, CFG) for s in ([a], [c], [a, c], [c, a], [j])}) == 5
    hf = sources_fingerprint(["hf:x"], CFG)
    assert hf != sources_fingerprint(["hf:x"], DataConfig(hf_split="test"))
