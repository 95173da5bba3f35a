"""The relation JSONL reader: token and character spans become exact character offsets, and every
bad row is an error naming the file, the line and the field."""

from __future__ import annotations

import pytest

from conftest import write_jsonl
from rawtune.data.readers.relations import read_relations
from rawtune.errors import DataError

TOKENS = ["Ada", "Lovelace", "was", "born", "in", "London", "."]
GOOD = {
    "tokens": TOKENS,
    "head": {"start": 0, "end": 2, "type": "PER"},
    "tail": {"start": 5, "end": 6},
    "label": "born_in",
}


def test_token_spans_map_to_exact_character_offsets(tmp_path):
    text = "Ada Lovelace, born in London."
    rows = [
        GOOD,
        {
            "text": text,
            "head": {"start": 0, "end": 12, "text": "Ada Lovelace"},
            "tail": {"start": 22, "end": 28},
            "label": "born_in",
        },
    ]
    data = read_relations(str(write_jsonl(tmp_path / "d.jsonl", rows)))
    a, b = data.examples
    assert a.text == " ".join(TOKENS)
    assert (
        a.text[a.head.start : a.head.end] == "Ada Lovelace" and a.text[a.tail.start : a.tail.end] == "London"
    )
    assert a.token_index(a.head) == (0, 2) and a.token_index(a.tail) == (5, 6)  # and back to tokens
    assert a.head.type == "PER" and a.tail.type is None
    assert (
        b.text[b.head.start : b.head.end] == "Ada Lovelace" and b.text[b.tail.start : b.tail.end] == "London"
    )
    assert (b.file, b.line, b.label) == (str(tmp_path / "d.jsonl"), 2, "born_in")


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"head": {"start": 5, "end": 8}}, "head", "out of range"),
        ({"head": {"start": 2, "end": 2}}, "head", "out of range or empty"),
        ({"tail": {"start": 1, "end": 3}}, "tail", "overlap"),
        ({"label": None}, "label", "expected a relation label"),
        ({"label": ""}, "label", "expected a relation label"),
        ({"head": {"start": "0", "end": 2}}, "head.start", "expected an integer"),
        ({"head": {"start": 0, "end": 2, "text": "Ada"}}, "head.text", "not its text"),
        ({"tail": None}, "tail", "expected an object"),
        ({"tokens": ["Ada Lovelace", "x"]}, "tokens[0]", "without spaces"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, change, field, message):
    bad = {**GOOD, **change}
    if change.get("label", 1) is None:
        del bad["label"]
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, bad])
    with pytest.raises(DataError, match=message) as e:
        read_relations(str(path))
    assert (e.value.file, e.value.line, e.value.field) == (str(path), 2, field)


def test_relation_key_hint_and_unlabeled_and_text_spans_on_spaces(tmp_path):
    row = {k: v for k, v in GOOD.items() if k != "label"} | {"relation": "born_in"}
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    with pytest.raises(DataError, match=r"--data\.label_column=relation"):
        read_relations(str(path))
    assert read_relations(str(path), label_column="relation").examples[0].label == "born_in"
    assert read_relations(str(path), labeled=False).examples[0].label is None
    spaced = {
        "text": "Ada  went to Rome",
        "head": {"start": 0, "end": 4},
        "tail": {"start": 13, "end": 17},
        "label": "x",
    }
    with pytest.raises(DataError, match="non-space character"):
        read_relations(str(write_jsonl(tmp_path / "s.jsonl", [spaced])))
    with pytest.raises(DataError, match=r"s.jsonl:1: invalid JSON"):
        read_relations(str(write_jsonl(tmp_path / "s.jsonl", ["{not json"])))


def test_only_json_lines_are_read(tmp_path):
    path = tmp_path / "tacred.json"
    path.write_text("[]")
    with pytest.raises(DataError, match=r"JSON lines \(\.jsonl\)"):
        read_relations(str(path))
