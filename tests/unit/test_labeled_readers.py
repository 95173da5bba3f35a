from __future__ import annotations

import json
from pathlib import Path

import pytest

from rawtune.data.readers.labeled import read_text_table, read_token_file
from rawtune.errors import DataError

CONLL2003 = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O


The DT B-NP O
European NNP I-NP B-ORG
Commission NNP I-NP I-ORG"""  # no final blank line: the last sentence is still kept


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


# --- CoNLL -----------------------------------------------------------------------------------------
def test_conll2003_documents_sentences_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "train.conll", CONLL2003)
    data = read_token_file(path)
    assert data.scheme == "iob2" and data.repairs == 0 and data.n_docs == 2 and data.file == path
    ex = data.examples
    assert [e.tokens for e in ex] == [
        ["EU", "rejects", "German", "call"],
        ["Peter", "Blackburn"],
        ["BRUSSELS", "1996-08-22"],
        ["The", "European", "Commission"],
    ]
    assert ex[0].tags == ["B-ORG", "O", "B-MISC", "O"]
    assert ex[3].tags == ["O", "B-ORG", "I-ORG"]
    assert [e.line for e in ex] == [3, 8, 13, 17]
    assert [e.doc for e in ex] == [0, 0, 1, 1]
    assert all(e.file == path and e.spans is None for e in ex)


def test_tag_column_choice_and_tabs(tmp_path: Path) -> None:
    path = write(tmp_path, "x.tsv", "EU\tB-ORG\tB-NP\nrejects\tO\tB-VP\n")
    data = read_token_file(path, tag_column=1)
    assert data.examples[0].tags == ["B-ORG", "O"]
    assert data.examples[0].doc is None and data.n_docs == 0
    chunks = read_token_file(path, tag_column=-1)  # the chunk column is a valid IOB2 column too
    assert chunks.examples[0].tags == ["B-NP", "B-VP"]


def test_unlabeled_reads_tokens_only(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt", "Hello\nworld\n\nBye\n")
    data = read_token_file(path, labeled=False)
    assert [e.tokens for e in data.examples] == [["Hello", "world"], ["Bye"]]
    assert all(e.tags is None for e in data.examples)


def test_iob1_is_converted_to_iob2(tmp_path: Path) -> None:
    text = "a I-PER\nb I-PER\nc B-PER\nd O\ne I-LOC\n\nf O\ng I-ORG\nh I-MISC\n"
    data = read_token_file(write(tmp_path, "x.iob", text))
    assert data.scheme == "iob1" and data.repairs == 0
    assert data.examples[0].tags == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert data.examples[1].tags == ["O", "B-ORG", "B-MISC"]
    declared = read_token_file(write(tmp_path, "y.iob", "a O\nb I-PER\n"), scheme="iob1")
    assert declared.scheme == "iob1" and declared.examples[0].tags == ["O", "B-PER"]


@pytest.mark.parametrize("scheme", ["auto", "bioes", "bilou"])
def test_bioes_is_converted_to_iob2(tmp_path: Path, scheme: str) -> None:
    text = "a S-PER\nb O\nc B-LOC\nd I-LOC\ne E-LOC\nf U-ORG\n"
    data = read_token_file(write(tmp_path, "x.bio", text), scheme=scheme)
    assert data.scheme == "bioes"
    assert data.examples[0].tags == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-ORG"]


def test_i_after_o_is_an_error_unless_repaired(tmp_path: Path) -> None:
    path = write(tmp_path, "x.conll", "a B-PER\nb O\n\nc O\nd I-LOC\ne I-LOC\nf I-PER\n")
    with pytest.raises(DataError) as err:
        read_token_file(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:5: tag: 'I-LOC' after 'O' starts an entity")
    assert "--repair-tags" in msg and "data.repair_tags=true" in msg and "2 such tag(s)" in msg
    assert err.value.line == 5 and err.value.field == "tag"
    data = read_token_file(path, repair=True)
    assert data.repairs == 2
    assert data.examples[1].tags == ["O", "B-LOC", "I-LOC", "B-PER"]


def test_declared_iob2_refuses_iob1_input_and_bioes_tags(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r":1: tag: 'I-PER' at the start of a sentence"):
        read_token_file(write(tmp_path, "a.conll", "a I-PER\n"), scheme="iob2")
    with pytest.raises(DataError, match=r":2: tag: 'S-PER' is not an IOB2 tag"):
        read_token_file(write(tmp_path, "b.conll", "a O\nb S-PER\n"), scheme="iob2")


def test_invalid_tag(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"x.conll:2: tag: invalid tag 'PERSON'"):
        read_token_file(write(tmp_path, "x.conll", "a O\nb PERSON\n"))


def test_wrong_column_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.conll", "-DOCSTART- O\n\na NN O\nb NN O\n\nc O\n")
    with pytest.raises(DataError) as err:
        read_token_file(path)
    assert err.value.line == 6
    assert "expected 3 columns (as on line 3, the first token line), got 2" in str(err.value)


def test_single_column_labeled_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="token and a tag column"):
        read_token_file(write(tmp_path, "x.conll", "a\nb\n"))


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- O\n\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(DataError, match="no sentences"):
        read_token_file(write(tmp_path, "x.conll", text))


def test_bad_utf8_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"x.conll:2: invalid UTF-8"):
        read_token_file(write(tmp_path, "x.conll", b"a O\nb\xff O\n"))


# --- token JSONL ---------------------------------------------------------------------------------------
def test_token_jsonl(tmp_path: Path) -> None:
    rows = [{"words": ["Paris", "is"], "ner": ["U-LOC", "O"]}, {"words": ["Hi"], "ner": ["O"]}]
    path = write(tmp_path, "x.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    data = read_token_file(path, tokens_field="words", tags_field="ner")
    assert data.scheme == "bioes"
    assert [(e.tokens, e.tags, e.line) for e in data.examples] == [
        (["Paris", "is"], ["B-LOC", "O"], 1),
        (["Hi"], ["O"], 2),
    ]


@pytest.mark.parametrize(
    ("line", "message", "field"),
    [
        ('{"tokens": ["a", "b"], "tags": ["O"]}', "2 tokens but 1 tags", "tags"),
        ('{"tokens": ["a"]}', "missing field", "tags"),
        ('{"tokens": [], "tags": []}', "empty sentence", "tokens"),
        ('{"tokens": ["a", 1], "tags": ["O", "O"]}', "item 1 is int", "tokens"),
        ('{"tokens": ["a"], "tags": ["O"]', "invalid JSON", None),
    ],
)
def test_token_jsonl_errors(tmp_path: Path, line: str, message: str, field: str | None) -> None:
    path = write(tmp_path, "x.jsonl", '{"tokens": ["ok"], "tags": ["O"]}\n' + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_token_file(path)
    assert (err.value.file, err.value.line, err.value.field) == (path, 2, field)


# --- text tables ---------------------------------------------------------------------------------------
def test_csv_single_label_with_quoted_multiline_row(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", 'text,label\n"good, really",pos\n"two\nlines",neg\nbad,neg\n')
    data = read_text_table(path)
    assert data.columns == ["text", "label"]
    assert [(e.text, e.label, e.line) for e in data.examples] == [
        ("good, really", "pos", 2),
        ("two\nlines", "neg", 3),
        ("bad", "neg", 5),
    ]


def test_csv_missing_column_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "sentence,labels\nhi,a\n")
    with pytest.raises(DataError) as err:
        read_text_table(path, text_column="sentence")
    assert err.value.field == "label"
    assert "no column 'label' (columns: sentence, labels); did you mean 'labels'?" in str(err.value)


def test_csv_wrong_field_count_and_empty_text(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"x.csv:3: row has 3 fields, the header has 2"):
        read_text_table(write(tmp_path, "x.csv", "text,label\na,b\nc,d,e\n"))
    with pytest.raises(DataError, match=r"y.csv:2: text: empty text"):
        read_text_table(write(tmp_path, "y.csv", "text,label\n  ,b\n"))


@pytest.mark.parametrize(
    ("text", "message"), [("", "empty file"), ("text,label\n\n", "no rows after the header")]
)
def test_csv_empty_or_header_only(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_text_table(write(tmp_path, "x.csv", text))


def test_tsv_pairs_and_regression(tmp_path: Path) -> None:
    path = write(tmp_path, "x.tsv", 'premise\thypothesis\tscore\nA "quoted" cat\tA cat\t4.5\nB\tC\t-1\n')
    data = read_text_table(
        path, text_column="premise", text_b_column="hypothesis", label_column="score", label_kind="regression"
    )
    assert [(e.text, e.text_b, e.label) for e in data.examples] == [
        ('A "quoted" cat', "A cat", 4.5),
        ("B", "C", -1.0),
    ]
    bad = write(tmp_path, "y.tsv", "text\tscore\nA\tgood\n")
    with pytest.raises(DataError, match=r"y.tsv:2: score: expected a number"):
        read_text_table(bad, label_column="score", label_kind="regression")


def test_multi_label_from_json_lists_and_separated_strings(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": ["x", "y"]}, {"text": "b", "label": "y|z"}, {"text": "c", "label": []}]
    path = write(tmp_path, "x.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    data = read_text_table(path, label_kind="multi")
    assert [e.label for e in data.examples] == [["x", "y"], ["y", "z"], []]
    csv_path = write(tmp_path, "x.csv", "text,label\na,x;y\n")
    assert read_text_table(csv_path, label_kind="multi", multi_label_sep=";").examples[0].label == ["x", "y"]


def test_jsonl_single_labels_become_strings_and_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": "neg"}\n')
    data = read_text_table(path)
    assert [(e.label, e.line) for e in data.examples] == [("1", 1), ("neg", 3)]
    assert data.columns == ["text", "label"]
    bad = write(tmp_path, "y.jsonl", '{"text": "a", "label": 1}\n{"txt": "b", "label": 2}\n')
    with pytest.raises(DataError, match=r"y.jsonl:2: text: no column 'text'.*did you mean 'txt'"):
        read_text_table(bad)
    broken = write(tmp_path, "z.jsonl", '{"text": "a", "label": 1}\n{"text": \n')
    with pytest.raises(DataError, match=r"z.jsonl:2: invalid JSON"):
        read_text_table(broken)


def test_txt_is_unlabeled_input_only(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt", "first text\n\n  second  \n")
    data = read_text_table(path, labeled=False)
    assert [(e.text, e.label, e.line) for e in data.examples] == [
        ("first text", None, 1),
        ("second", None, 3),
    ]
    with pytest.raises(DataError, match="no labels"):
        read_text_table(path)
