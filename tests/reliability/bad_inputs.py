"""D1-D5 and config/CLI: bad inputs as data. Each case is a file handed to `rawtune finetune` (as the
training file unless `split` says dev) or a set of flags; the run must exit 2 with one error line
that names the file (and the line, where the input has lines, and the field or key where there is
one), print no traceback and create no output directory. Used by test_bad_inputs.py and counted by
benchmarks/reliability_report.py."""

from __future__ import annotations

import json
from dataclasses import dataclass

CATEGORIES = {
    "ner": "tokens (CoNLL/JSONL)",
    "classification": "tables (CSV/TSV/JSONL)",
    "pairs": "sentence pairs",
    "qa": "SQuAD (JSON/JSONL)",
    "relations": "relations (JSONL)",
    "seq2seq": "seq2seq (JSONL/CSV)",
    "causal": "causal (JSONL)",
    "corpus": "raw-text corpora",
    "config": "YAML config and flags",
}


@dataclass(frozen=True)
class BadInput:
    id: str
    task: str  # a key of CATEGORIES
    name: str  # the file name (its extension picks the reader)
    content: bytes
    line: int | None = None  # the line the error must name (None: the file alone)
    key: str | None = None  # a field / key / word the error must contain
    split: str = "train"
    flags: tuple[str, ...] = ()

    @property
    def category(self) -> str:
        return CATEGORIES.get(self.task, self.task)


def _jl(*rows) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


CONLL_OK = "EU B-ORG\nrejects O\nGerman B-MISC\n\nPeter B-PER\nBlackburn I-PER\n\n"
T = "utf-8"

NER = [
    BadInput("conll-empty", "ner", "t.conll", b""),
    BadInput("conll-blank-lines-only", "ner", "t.conll", b"\n\n  \n\n"),
    BadInput("conll-docstart-only", "ner", "t.conll", b"-DOCSTART- -X- -X- O\n\n"),
    BadInput("conll-latin1-byte", "ner", "t.conll", (CONLL_OK + "caf\xe9 O\n").encode("latin-1"), line=8),
    BadInput("conll-utf16-bom", "ner", "t.conll", CONLL_OK.encode("utf-16")),
    BadInput("conll-nul-byte", "ner", "t.conll", (CONLL_OK + "a\0b O\n").encode(), line=8),
    BadInput("conll-no-tag-column", "ner", "t.conll", (CONLL_OK + "lonely\n").encode(), line=8),
    BadInput(
        "conll-bad-tag-prefix", "ner", "t.conll", (CONLL_OK + "x X-PER\n").encode(), line=8, key="X-PER"
    ),
    BadInput("conll-tag-without-type", "ner", "t.conll", (CONLL_OK + "x B-\n").encode(), line=8, key="B-"),
    BadInput("conll-binary-garbage", "ner", "t.conll", bytes(range(256)) * 4),
    BadInput(
        "conll-dev-label-unseen",
        "ner",
        "d.conll",
        b"EU B-ORG\nfoo B-WEAPON\n\n",
        key="WEAPON",
        split="dev",
    ),
    BadInput(
        "conll-tag-column-out-of-range",
        "ner",
        "t.conll",
        CONLL_OK.encode(),
        line=1,
        flags=("--tag-column=5",),
    ),
    BadInput("conll-crlf-with-latin1", "ner", "t.conll", b"EU B-ORG\r\nM\xfcnchen B-LOC\r\n\r\n", line=2),
    BadInput("conll-only-O-tags", "ner", "t.conll", b"a O\nb O\n\nc O\n\n"),
    BadInput(
        "tokens-jsonl-bad-json", "ner", "t.jsonl", _jl({"tokens": ["a"], "tags": ["O"]}, "{not json"), line=2
    ),
    BadInput("tokens-jsonl-top-level-list", "ner", "t.jsonl", _jl([["a"], ["O"]]), line=1),
    BadInput(
        "tokens-jsonl-tokens-a-string",
        "ner",
        "t.jsonl",
        _jl({"tokens": "a b", "tags": ["O", "O"]}),
        line=1,
        key="tokens",
    ),
    BadInput(
        "tokens-jsonl-length-mismatch", "ner", "t.jsonl", _jl({"tokens": ["a", "b"], "tags": ["O"]}), line=1
    ),
    BadInput("tokens-jsonl-no-tags", "ner", "t.jsonl", _jl({"tokens": ["a", "b"]}), line=1, key="tags"),
    BadInput(
        "tokens-jsonl-non-string-token",
        "ner",
        "t.jsonl",
        _jl({"tokens": ["a", 3], "tags": ["O", "O"]}),
        line=1,
        key="tokens",
    ),
    BadInput("tokens-jsonl-empty-tokens", "ner", "t.jsonl", _jl({"tokens": [], "tags": []})),
    BadInput(
        "tokens-jsonl-bad-tag", "ner", "t.jsonl", _jl({"tokens": ["a"], "tags": ["PER"]}), line=1, key="PER"
    ),
    BadInput(
        "tokens-jsonl-null-row", "ner", "t.jsonl", _jl({"tokens": ["a"], "tags": ["O"]}, "null"), line=2
    ),
    BadInput(
        "tokens-jsonl-utf16",
        "ner",
        "t.jsonl",
        _jl({"tokens": ["a"], "tags": ["B-PER"]}).decode().encode("utf-16"),
    ),
    BadInput("ner-unknown-extension", "ner", "t.xlsx", b"PK\x03\x04 not a sheet"),
    BadInput("ner-missing-file", "ner", "/nonexistent/t.conll", b""),
    BadInput("ner-a-directory", "ner", "adir/", b""),
]

CSV_OK = "text,label\nthe film was good,pos\nthe meal was bad,neg\n"
CLS = [
    BadInput("csv-empty", "classification", "t.csv", b""),
    BadInput("csv-header-only", "classification", "t.csv", b"text,label\n"),
    BadInput(
        "csv-no-label-column", "classification", "t.csv", b"text,sentiment\na,pos\nb,neg\n", key="label"
    ),
    BadInput("csv-no-text-column", "classification", "t.csv", b"review,label\na,pos\nb,neg\n", key="text"),
    BadInput("csv-row-too-short", "classification", "t.csv", (CSV_OK + "only text\n").encode(), line=4),
    BadInput("csv-row-too-long", "classification", "t.csv", (CSV_OK + "a,pos,extra\n").encode(), line=4),
    BadInput("csv-empty-text", "classification", "t.csv", (CSV_OK + ",pos\n").encode(), line=4, key="text"),
    BadInput("csv-empty-label", "classification", "t.csv", (CSV_OK + "a,\n").encode(), line=4, key="label"),
    BadInput("csv-latin1", "classification", "t.csv", (CSV_OK + "caf\xe9,pos\n").encode("latin-1"), line=4),
    BadInput("csv-utf16-bom", "classification", "t.csv", CSV_OK.encode("utf-16")),
    BadInput("csv-nul-byte", "classification", "t.csv", (CSV_OK + "a\0b,pos\n").encode(), line=4),
    BadInput(
        "csv-unterminated-quote", "classification", "t.csv", (CSV_OK + '"never closed,pos\nx,neg\n').encode()
    ),
    BadInput(
        "csv-one-class-only", "classification", "t.csv", b"text,label\na,pos\nb,pos\nc,pos\n", key="pos"
    ),
    BadInput(
        "csv-dev-label-unseen",
        "classification",
        "d.csv",
        b"text,label\na,pos\nb,meh\n",
        key="meh",
        split="dev",
    ),
    BadInput(
        "csv-dev-wrong-columns",
        "classification",
        "d.csv",
        b"sentence,label\na,pos\n",
        key="text",
        split="dev",
    ),
    BadInput(
        "csv-duplicate-header", "classification", "t.csv", b"text,text,label\na,b,pos\nc,d,neg\n", key="text"
    ),
    BadInput("csv-binary", "classification", "t.csv", bytes(range(256)) * 4),
    BadInput(
        "csv-text-column-flag-wrong",
        "classification",
        "t.csv",
        CSV_OK.encode(),
        key="body",
        flags=("--text-column=body",),
    ),
    BadInput(
        "csv-label-column-flag-wrong",
        "classification",
        "t.csv",
        CSV_OK.encode(),
        key="y",
        flags=("--label-column=y",),
    ),
    BadInput(
        "csv-regression-non-number",
        "classification",
        "t.csv",
        b"text,label\na,0.5\nb,high\n",
        line=3,
        key="label",
        flags=("--label-kind=regression",),
    ),
    BadInput(
        "csv-regression-nan",
        "classification",
        "t.csv",
        b"text,label\na,0.5\nb,nan\n",
        line=3,
        key="label",
        flags=("--label-kind=regression",),
    ),
    BadInput(
        "csv-regression-inf",
        "classification",
        "t.csv",
        b"text,label\na,0.5\nb,inf\n",
        line=3,
        key="label",
        flags=("--label-kind=regression",),
    ),
    BadInput("tsv-with-commas", "classification", "t.tsv", CSV_OK.encode()),
    BadInput("tsv-latin1", "classification", "t.tsv", b"text\tlabel\ngood\tpos\nna\xefve\tneg\n", line=3),
    BadInput("tsv-row-too-long", "classification", "t.tsv", b"text\tlabel\ngood\tpos\nbad\tneg\tx\n", line=3),
    BadInput(
        "cls-jsonl-bad-json",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, '{"text": "b", "label":'),
        line=2,
    ),
    BadInput(
        "cls-jsonl-missing-text",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"body": "b", "label": "neg"}),
        line=2,
        key="text",
    ),
    BadInput(
        "cls-jsonl-missing-label",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": "b"}),
        line=2,
        key="label",
    ),
    BadInput(
        "cls-jsonl-text-a-number",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": 7, "label": "neg"}),
        line=2,
        key="text",
    ),
    BadInput(
        "cls-jsonl-label-a-list",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": "b", "label": ["neg"]}),
        line=2,
        key="label",
    ),
    BadInput(
        "cls-jsonl-label-an-object",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": "b", "label": {"x": 1}}),
        line=2,
        key="label",
    ),
    BadInput(
        "cls-jsonl-row-a-list",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, ["b", "neg"]),
        line=2,
    ),
    BadInput(
        "cls-jsonl-utf16",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": "b", "label": "neg"}).decode().encode("utf-16"),
    ),
    BadInput(
        "cls-jsonl-whitespace-text",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": "   ", "label": "neg"}),
        line=2,
        key="text",
    ),
    BadInput(
        "cls-jsonl-dev-label-unseen",
        "classification",
        "d.jsonl",
        _jl({"text": "a", "label": "pos"}, {"text": "b", "label": "???"}),
        key="???",
        split="dev",
    ),
]


def _squad(paras) -> bytes:
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paras}]}).encode()


CTX = "Ada Lovelace was born in London in 1815."


def _qa(answer: dict | list, question: str = "Where was Ada born?", qid: str = "q1") -> dict:
    answers = answer if isinstance(answer, list) else [answer]
    return {"context": CTX, "qas": [{"id": qid, "question": question, "answers": answers}]}


QA = [
    BadInput("squad-empty", "qa", "t.json", b""),
    BadInput("squad-not-json", "qa", "t.json", b"{'data': []}"),
    BadInput("squad-top-level-list", "qa", "t.json", b"[1, 2]"),
    BadInput("squad-no-data-key", "qa", "t.json", b'{"version": "1.1"}', key="data"),
    BadInput("squad-data-empty", "qa", "t.json", b'{"data": []}'),
    BadInput("squad-paragraphs-not-list", "qa", "t.json", b'{"data": [{"paragraphs": 3}]}', key="paragraphs"),
    BadInput("squad-no-context", "qa", "t.json", _squad([{"qas": []}]), key="context"),
    BadInput(
        "squad-answer-start-past-context",
        "qa",
        "t.json",
        _squad([_qa({"text": "London", "answer_start": 400})]),
        key="answer_start",
    ),
    BadInput(
        "squad-answer-start-negative",
        "qa",
        "t.json",
        _squad([_qa({"text": "London", "answer_start": -3})]),
        key="answer_start",
    ),
    BadInput(
        "squad-answer-start-a-string",
        "qa",
        "t.json",
        _squad([_qa({"text": "London", "answer_start": "25"})]),
        key="answer_start",
    ),
    BadInput(
        "squad-answer-not-at-offset",
        "qa",
        "t.json",
        _squad([_qa({"text": "Paris", "answer_start": 25})]),
        key="Paris",
    ),
    BadInput("squad-answer-text-missing", "qa", "t.json", _squad([_qa({"answer_start": 25})]), key="text"),
    BadInput(
        "squad-empty-question",
        "qa",
        "t.json",
        _squad([_qa({"text": "London", "answer_start": 25}, question="")]),
        key="question",
    ),
    BadInput("squad-qas-not-list", "qa", "t.json", _squad([{"context": CTX, "qas": {"id": 1}}]), key="qas"),
    BadInput(
        "squad-latin1",
        "qa",
        "t.json",
        _squad([_qa({"text": "London", "answer_start": 25})]).replace(b"Ada", b"\xc0da"),
    ),
    BadInput(
        "squad-utf16",
        "qa",
        "t.json",
        _squad([_qa({"text": "London", "answer_start": 25})]).decode().encode("utf-16"),
    ),
    BadInput("squad-nul", "qa", "t.json", b"\0" * 64),
    BadInput("squad-truncated", "qa", "t.json", _squad([_qa({"text": "London", "answer_start": 25})])[:-20]),
    BadInput(
        "squad-jsonl-bad-line",
        "qa",
        "t.jsonl",
        _jl({"question": "q?", "context": CTX, "answers": {"text": ["London"], "answer_start": [25]}}, "{"),
        line=2,
    ),
    BadInput(
        "squad-jsonl-no-question",
        "qa",
        "t.jsonl",
        _jl({"context": CTX, "answers": {"text": ["London"], "answer_start": [25]}}),
        line=1,
        key="question",
    ),
    BadInput(
        "squad-jsonl-answer-mismatch",
        "qa",
        "t.jsonl",
        _jl({"question": "q?", "context": CTX, "answers": {"text": ["Rome"], "answer_start": [25]}}),
        line=1,
        key="Rome",
    ),
]

REL_OK = {"tokens": ["Ada", "lives", "in", "London", "."], "head": {"start": 0, "end": 1, "type": "PER"}, "tail": {"start": 3, "end": 4, "type": "LOC"}, "label": "lives_in"}  # fmt: skip
REL_NO = {**REL_OK, "label": "no_relation"}


def _rel(**change) -> dict:
    return {**REL_OK, **change}


REL = [
    BadInput("rel-empty", "relations", "t.jsonl", b""),
    BadInput("rel-bad-json", "relations", "t.jsonl", _jl(REL_OK, REL_NO, "{oops"), line=3),
    BadInput(
        "rel-head-past-end",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(head={"start": 3, "end": 9})),
        line=3,
        key="head",
    ),
    BadInput(
        "rel-head-reversed",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(head={"start": 2, "end": 1})),
        line=3,
        key="head",
    ),
    BadInput(
        "rel-head-negative",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(head={"start": -1, "end": 1})),
        line=3,
        key="head",
    ),
    BadInput(
        "rel-head-missing",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, {k: v for k, v in REL_OK.items() if k != "head"}),
        line=3,
        key="head",
    ),
    BadInput(
        "rel-tail-a-string",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(tail="London")),
        line=3,
        key="tail",
    ),
    BadInput(
        "rel-start-a-float",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(tail={"start": 3.5, "end": 4})),
        line=3,
        key="start",
    ),
    BadInput(
        "rel-label-missing",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, {k: v for k, v in REL_OK.items() if k != "label"}),
        line=3,
        key="label",
    ),
    BadInput(
        "rel-tokens-not-list",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(tokens="Ada lives")),
        line=3,
        key="tokens",
    ),
    BadInput(
        "rel-same-span",
        "relations",
        "t.jsonl",
        _jl(REL_OK, REL_NO, _rel(tail={"start": 0, "end": 1})),
        line=3,
    ),
    BadInput(
        "rel-text-span-past-end",
        "relations",
        "t.jsonl",
        _jl(
            REL_OK,
            REL_NO,
            {
                "text": "Ada lives",
                "head": {"start": 0, "end": 3},
                "tail": {"start": 4, "end": 90},
                "label": "x",
            },
        ),
        line=3,
        key="tail",
    ),
    BadInput("rel-latin1", "relations", "t.jsonl", _jl(REL_OK, REL_NO).replace(b"Ada", b"\xc0da", 1), line=1),
    BadInput("rel-row-a-list", "relations", "t.jsonl", _jl(REL_OK, REL_NO, [1, 2]), line=3),
    BadInput(
        "rel-dev-label-unseen", "relations", "d.jsonl", _jl(_rel(label="founded")), key="founded", split="dev"
    ),
]

GEN_OK = {"source": "a long text about cats", "target": "cats"}
GEN = [
    BadInput("gen-empty", "seq2seq", "t.jsonl", b""),
    BadInput("gen-bad-json", "seq2seq", "t.jsonl", _jl(GEN_OK, "{"), line=2),
    BadInput("gen-no-target", "seq2seq", "t.jsonl", _jl(GEN_OK, {"source": "x"}), line=2, key="target"),
    BadInput("gen-no-source", "seq2seq", "t.jsonl", _jl(GEN_OK, {"target": "x"}), line=2, key="source"),
    BadInput(
        "gen-empty-target",
        "seq2seq",
        "t.jsonl",
        _jl(GEN_OK, {"source": "x", "target": ""}),
        line=2,
        key="target",
    ),
    BadInput(
        "gen-target-a-number",
        "seq2seq",
        "t.jsonl",
        _jl(GEN_OK, {"source": "x", "target": 3}),
        line=2,
        key="target",
    ),
    BadInput(
        "gen-source-an-object",
        "seq2seq",
        "t.jsonl",
        _jl(GEN_OK, {"source": {"a": 1}, "target": "y"}),
        line=2,
        key="source",
    ),
    BadInput(
        "gen-source-list-with-number",
        "seq2seq",
        "t.jsonl",
        _jl(GEN_OK, {"source": ["a", 1], "target": "y"}),
        line=2,
        key="source",
    ),
    BadInput(
        "gen-dialogue-bad-turn",
        "seq2seq",
        "t.jsonl",
        _jl({"turns": [{"role": "user", "text": "hi"}, 5]}),
        line=1,
        key="turns",
    ),
    BadInput(
        "gen-dialogue-one-turn",
        "seq2seq",
        "t.jsonl",
        _jl({"turns": [{"role": "user", "text": "hi"}]}),
        line=1,
        key="turns",
    ),
    BadInput(
        "gen-latin1",
        "seq2seq",
        "t.jsonl",
        _jl(GEN_OK, {"source": "x", "target": "y"}).replace(b'"x"', b'"\xe9"'),
        line=2,
    ),
    BadInput("gen-utf16", "seq2seq", "t.jsonl", _jl(GEN_OK).decode().encode("utf-16")),
    BadInput("gen-row-a-string", "seq2seq", "t.jsonl", _jl(GEN_OK, '"just a string"'), line=2),
    BadInput("gen-csv-no-target-column", "seq2seq", "t.csv", b"source,summary\na,b\n", key="target"),
    BadInput("gen-nul", "seq2seq", "t.jsonl", _jl(GEN_OK) + b"\0\0\0\n", line=2),
]

_Y = "task: {name: ner}\n"
CONFIG = [
    BadInput("yaml-syntax", "config", "c.yaml", b"train:\n  lr: 0.1\n bad: 1\n", line=3),
    BadInput("yaml-unclosed-flow", "config", "c.yaml", b"train: {lr: 1\nseed: 2\n", line=2),
    BadInput("yaml-tab-indent", "config", "c.yaml", b"train:\n\tlr: 0.1\n", line=2),
    BadInput(
        "yaml-unknown-key",
        "config",
        "c.yaml",
        (_Y + "train:\n  lrr: 0.1\n").encode(),
        line=3,
        key="train.lrr",
    ),
    BadInput(
        "yaml-wrong-type", "config", "c.yaml", (_Y + "train:\n  lr: fast\n").encode(), line=3, key="train.lr"
    ),
    BadInput(
        "yaml-negative-lr", "config", "c.yaml", (_Y + "train:\n  lr: -1\n").encode(), line=3, key="train.lr"
    ),
    BadInput(
        "yaml-zero-batch",
        "config",
        "c.yaml",
        (_Y + "train:\n  batch_size: 0\n").encode(),
        line=3,
        key="train.batch_size",
    ),
    BadInput("yaml-top-level-list", "config", "c.yaml", b"- a\n- b\n"),
    BadInput("yaml-section-a-scalar", "config", "c.yaml", (_Y + "train: 3\n").encode(), line=2, key="train"),
    BadInput(
        "yaml-unknown-section", "config", "c.yaml", (_Y + "trian:\n  lr: 1\n").encode(), line=2, key="trian"
    ),
    BadInput("yaml-unknown-task", "config", "c.yaml", b"task: {name: nerr}\n", line=1, key="nerr"),
    BadInput(
        "yaml-unknown-tuning",
        "config",
        "c.yaml",
        (_Y + "tuning: {method: lorra}\n").encode(),
        line=2,
        key="lorra",
    ),
    BadInput(
        "yaml-python-tag",
        "config",
        "c.yaml",
        b"train: !!python/object/apply:os.system ['touch yaml-pwned']\n",
        line=1,
    ),
    BadInput("yaml-latin1", "config", "c.yaml", (_Y + "# caf\xe9\n").encode("latin-1"), line=2),
    BadInput("yaml-utf16", "config", "c.yaml", _Y.encode("utf-16")),
    BadInput(
        "yaml-duplicate-key",
        "config",
        "c.yaml",
        (_Y + "train:\n  lr: 0.1\n  lr: 0.2\n").encode(),
        line=4,
        key="lr",
    ),
    BadInput(
        "yaml-alias-bomb",
        "config",
        "c.yaml",
        (
            b"a: &a [x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
                % ((98 + i, 98 + i) + (97 + i,) * 9)
                for i in range(8)
            )
            + _Y.encode()
        ),
    ),
    BadInput("yaml-missing-file", "config", "/nonexistent/c.yaml", b""),
    BadInput("flag-lr-not-a-number", "config", "", b"", key="train.lr", flags=("--train.lr=abc",)),
    BadInput("flag-unknown-key", "config", "", b"", key="train.lrr", flags=("--train.lrr=1",)),
    BadInput(
        "flag-negative-steps", "config", "", b"", key="train.max_steps", flags=("--train.max_steps=-1",)
    ),
    BadInput(
        "flag-float-batch", "config", "", b"", key="train.batch_size", flags=("--train.batch_size=1.5",)
    ),
    BadInput(
        "flag-zero-max-length", "config", "", b"", key="data.max_length", flags=("--data.max_length=0",)
    ),
    BadInput("flag-unknown-tuning", "config", "", b"", key="lorra", flags=("--tuning.method=lorra",)),
    BadInput("flag-unknown-section", "config", "", b"", key="trian", flags=("--trian.lr=1",)),
    BadInput("flag-zero-threads", "config", "", b"", key="train.threads", flags=("--train.threads=0",)),
    BadInput(
        "flag-bad-precision", "config", "", b"", key="train.precision", flags=("--train.precision=fp8",)
    ),
    BadInput(
        "flag-model-missing",
        "config",
        "",
        b"",
        key="/nonexistent/model",
        flags=("--model=/nonexistent/model",),
    ),
    BadInput("flag-model-a-file", "config", "", b"", key="{ner_train}", flags=("--model={ner_train}",)),
    BadInput("flag-list-for-scalar", "config", "", b"", key="train.lr", flags=("--train.lr=[1, 2]",)),
    BadInput(
        "flag-warmup-over-one", "config", "", b"", key="train.warmup_ratio", flags=("--train.warmup_ratio=2",)
    ),
]

PAIR_OK = "text\ttext_b\tlabel\na cat\ta dog\tdifferent\na cat\ta cat\tsame\n"
PAIRS = [
    BadInput("pairs-no-text-b-column", "pairs", "t.tsv", b"text\tsecond\tlabel\na\tb\tsame\n", key="text_b"),
    BadInput(
        "pairs-empty-text-b", "pairs", "t.tsv", (PAIR_OK + "a\t\tsame\n").encode(), line=4, key="text_b"
    ),
    BadInput("pairs-latin1", "pairs", "t.tsv", (PAIR_OK + "caf\xe9\tb\tsame\n").encode("latin-1"), line=4),
    BadInput("pairs-row-too-short", "pairs", "t.tsv", (PAIR_OK + "only a\tsame\n").encode(), line=4),
    BadInput("pairs-nul", "pairs", "t.tsv", (PAIR_OK + "a\0\tb\tsame\n").encode(), line=4),
    BadInput(
        "pairs-one-label", "pairs", "t.tsv", b"text\ttext_b\tlabel\na\tb\tsame\nc\td\tsame\n", key="same"
    ),
    BadInput(
        "pairs-jsonl-text-b-number",
        "pairs",
        "t.jsonl",
        _jl({"text": "a", "text_b": 2, "label": "same"}),
        line=1,
        key="text_b",
    ),
    BadInput(
        "pairs-jsonl-no-text-b", "pairs", "t.jsonl", _jl({"text": "a", "label": "same"}), line=1, key="text_b"
    ),
    BadInput(
        "pairs-dev-label-unseen",
        "pairs",
        "d.tsv",
        b"text\ttext_b\tlabel\na\tb\tmaybe\n",
        key="maybe",
        split="dev",
    ),
    BadInput("pairs-csv-unterminated-quote", "pairs", "t.csv", b'text,text_b,label\na,"b,same\n'),
]

CAUSAL = [
    BadInput("causal-empty", "causal", "t.jsonl", b""),
    BadInput("causal-bad-json", "causal", "t.jsonl", _jl(GEN_OK, "[1,"), line=2),
    BadInput(
        "causal-no-source",
        "causal",
        "t.jsonl",
        _jl(GEN_OK, {"prompt": "x", "target": "y"}),
        line=2,
        key="source",
    ),
    BadInput(
        "causal-target-a-bool",
        "causal",
        "t.jsonl",
        _jl(GEN_OK, {"source": "x", "target": True}),
        line=2,
        key="target",
    ),
    BadInput("causal-turns-not-list", "causal", "t.jsonl", _jl({"turns": "user: hi"}), line=1, key="turns"),
    BadInput(
        "causal-turn-no-role",
        "causal",
        "t.jsonl",
        _jl({"turns": [{"text": "hi"}, {"text": "yo"}]}),
        line=1,
        key="turns",
    ),
    BadInput("causal-utf16", "causal", "t.jsonl", _jl(GEN_OK).decode().encode("utf-16")),
    BadInput(
        "causal-latin1",
        "causal",
        "t.jsonl",
        _jl({"source": "cafe", "target": "x"}).replace(b"cafe", b"caf\xe9"),
        line=1,
    ),
]

# raw-text corpora for `rawtune pretrain` (the name is the corpus given to --data.corpus)
CORPUS = [
    BadInput("corpus-empty-file", "corpus", "c.txt", b""),
    BadInput("corpus-blank-lines-only", "corpus", "c.txt", b"\n\n   \n\t\n"),
    BadInput("corpus-latin1", "corpus", "c.txt", "first line\nna\xefve second\n".encode("latin-1"), line=2),
    BadInput("corpus-nul", "corpus", "c.txt", b"first line\nsecond\0line\n", line=2),
    BadInput("corpus-utf16", "corpus", "c.txt", "one line of text\n".encode("utf-16")),
    BadInput("corpus-missing", "corpus", "/nonexistent/c.txt", b""),
    BadInput("corpus-empty-dir", "corpus", "emptydir/", b""),
    BadInput("corpus-unsupported-ext", "corpus", "c.docx", b"PK\x03\x04"),
    BadInput("corpus-jsonl-no-text", "corpus", "c.jsonl", _jl({"body": "a"}), line=1, key="text"),
    BadInput(
        "corpus-jsonl-text-a-number", "corpus", "c.jsonl", _jl({"text": "a"}, {"text": 5}), line=2, key="text"
    ),
    BadInput("corpus-jsonl-bad-json", "corpus", "c.jsonl", _jl({"text": "a"}, "{"), line=2),
    BadInput("corpus-csv-no-text-column", "corpus", "c.csv", b"body\na\n", key="text"),
    BadInput("corpus-gz-not-gzip", "corpus", "c.txt.gz", b"plain text, not gzip\n"),
    BadInput(
        "corpus-gz-truncated", "corpus", "c.txt.gz", __import__("gzip").compress(b"some text\n" * 500)[:40]
    ),
    BadInput("corpus-parquet-garbage", "corpus", "c.parquet", b"PAR1 not really"),
    BadInput("corpus-binary", "corpus", "c.txt", bytes(range(256)) * 8),
]

# huge lines: a multi-megabyte line is read and its fault still named by line
HUGE = [
    BadInput(
        "huge-jsonl-line-truncated",
        "classification",
        "t.jsonl",
        _jl({"text": "a", "label": "pos"}) + b'{"text": "' + b"x" * 4_000_000 + b"\n",
        line=2,
    ),
    BadInput(
        "huge-conll-line-no-tag", "ner", "t.conll", (CONLL_OK + "a" * 4_000_000 + "\n").encode(), line=8
    ),
    BadInput(
        "huge-csv-row-too-long", "classification", "t.csv", (CSV_OK + "a," * 500_000 + "\n").encode(), line=4
    ),
    BadInput("huge-corpus-latin1-at-end", "corpus", "c.txt", b"x" * 3_000_000 + b"\n\xff\n", line=2),
]

BAD_INPUTS: list[BadInput] = [*NER, *CLS, *PAIRS, *QA, *REL, *GEN, *CAUSAL, *CORPUS, *HUGE, *CONFIG]


# --- the HTTP server's /predict (a NER model named "ner", max_texts 64, max_chars 2000, 64 KiB bodies) ---
@dataclass(frozen=True)
class BadRequest:
    id: str
    body: bytes
    status: int  # the 4xx it must get
    key: str  # a word the error (message or details) must contain
    path: str = "/v1/models/ner/predict"
    method: str = "POST"
    content_type: str | None = "application/json"
    category: str = "server /predict"


SERVER_MAX_CHARS, SERVER_MAX_BODY = 2000, 65536
_TXT = {"texts": ["Maria flew to Paris."]}
_J = json.dumps

BAD_REQUESTS = [
    BadRequest("not-json", b"{texts: [a]}", 422, "json"),
    BadRequest("empty-body", b"", 422, "json"),
    BadRequest("truncated-json", _J(_TXT).encode()[:-3], 422, "json"),
    BadRequest("json-null", b"null", 422, "valid"),
    BadRequest("top-level-list", b'["Maria flew to Paris."]', 422, "valid"),
    BadRequest("top-level-string", b'"Maria"', 422, "valid"),
    BadRequest("texts-a-string", b'{"texts": "Maria flew"}', 422, "texts"),
    BadRequest("texts-of-numbers", b'{"texts": [1, 2]}', 422, "texts"),
    BadRequest("texts-of-objects", b'{"texts": [{"text": "a"}]}', 422, "texts"),
    BadRequest("texts-nested-lists", b'{"texts": [["a"]]}', 422, "texts"),
    BadRequest("texts-null-item", b'{"texts": ["a", null]}', 422, "texts"),
    BadRequest("texts-a-number", b'{"texts": 3}', 422, "texts"),
    BadRequest("no-input-kind", b"{}", 422, "exactly one"),
    BadRequest("two-input-kinds", b'{"texts": ["a"], "tokens": [["a"]]}', 422, "exactly one"),
    BadRequest("unknown-field", b'{"textz": ["a"]}', 422, "textz"),
    BadRequest("extra-field", b'{"texts": ["a"], "debug": true}', 422, "debug"),
    BadRequest("tokens-of-numbers", b'{"tokens": [[1, 2]]}', 422, "tokens"),
    BadRequest("tokens-flat-list", b'{"tokens": ["a", "b"]}', 422, "tokens"),
    BadRequest("pairs-to-ner", b'{"pairs": [["a", "b"]]}', 422, "pairs"),
    BadRequest("questions-to-ner", b'{"questions": [{"question": "q", "context": "c"}]}', 422, "questions"),
    BadRequest(
        "relations-to-ner",
        _J(
            {"relations": [{"text": "a b", "head": {"start": 0, "end": 1}, "tail": {"start": 2, "end": 3}}]}
        ).encode(),
        422,
        "relations",
    ),
    BadRequest("questions-missing-context", b'{"questions": [{"question": "q"}]}', 422, "context"),
    BadRequest("too-many-texts", _J({"texts": ["a"] * 65}).encode(), 422, "at most 64"),
    BadRequest("text-too-long", _J({"texts": ["a" * (SERVER_MAX_CHARS + 1)]}).encode(), 422, "at most 2000"),
    BadRequest("tokens-too-long", _J({"tokens": [["abcd"] * 500]}).encode(), 422, "at most 2000"),
    BadRequest("body-over-limit", _J({"texts": ["a " * 40000]}).encode(), 413, "limit"),
    BadRequest("invalid-utf8", b'{"texts": ["caf\xe9"]}', 422, "unicode"),
    BadRequest("latin1-body", '{"texts": ["naïve"]}'.encode("latin-1"), 422, "unicode"),
    BadRequest("utf16-body", _J(_TXT).encode("utf-16"), 422, "json"),
    BadRequest("lone-surrogate", b'{"texts": ["a\\ud800b"]}', 422, "escape"),
    BadRequest("deeply-nested", b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 413, "limit"),
    BadRequest("nested-under-limit", b'{"texts": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 422, "recursion"),
    BadRequest("huge-number", b'{"texts": [1e999999]}', 422, "texts"),
    BadRequest("nul-in-json-syntax", b'{"texts":\x00 ["a"]}', 422, "json"),
    BadRequest("unknown-model", _J(_TXT).encode(), 404, "no model named", path="/v1/models/nope/predict"),
    BadRequest(
        "traversal-model-name",
        _J(_TXT).encode(),
        404,
        "not found",
        path="/v1/models/..%2F..%2Fetc%2Fpasswd/predict",
    ),
    BadRequest("get-on-predict", b"", 405, "method", method="GET"),
    BadRequest("put-on-predict", _J(_TXT).encode(), 405, "method", method="PUT"),
    BadRequest("form-encoded", b"texts=Maria", 422, "json", content_type="application/x-www-form-urlencoded"),
]
