"""Read a labeled file for augmentation and write the augmented one in the same format: a CoNLL file
keeps its columns, separator, `-DOCSTART-` lines and tag scheme (each sentence is followed by its
copies, inside its document; a replaced word keeps the other columns of the word it replaces, a
swapped-in mention those of where it was found); NER JSONL keeps every field; a CSV/TSV/JSONL table
keeps every other column. Only `data/readers` opens the input; the output is written atomically."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from rawtune.augmentation.plan import Copy, Sentence
from rawtune.data.labels import iob2_to_bioes
from rawtune.errors import DataError

TABLES = (".csv", ".tsv")


@dataclass
class Loaded:
    kind: str  # "conll" | "ner-jsonl" | "table"
    path: str
    sentences: list[Sentence]
    scheme: str = "none"
    layout: Any = None  # conll: (blocks, separator); ner-jsonl: objects; table: (columns, rows)
    spans: list[list[tuple[int, int]]] = field(default_factory=list)  # table: word offsets in the text


def detect_task(path: str, task: str, tokens_field: str) -> str:
    if task != "auto":
        return task
    name = path.lower().removesuffix(".gz")
    if name.endswith(TABLES):
        return "classification"
    if name.endswith(".jsonl"):
        from rawtune.data.readers.text import json_objects

        for _, obj in json_objects(path):
            return "ner" if tokens_field in obj else "classification"
    return "ner"


def load(path: str, d: Any) -> Loaded:
    """`d`: the data section of the augment config."""
    from rawtune.data.readers import labeled

    if detect_task(path, d.task, d.tokens_field) == "ner":
        data = labeled.read_token_file(
            path,
            token_column=d.token_column,
            tag_column=d.tag_column,
            scheme=d.scheme,
            repair=d.repair_tags,
            tokens_field=d.tokens_field,
            tags_field=d.tags_field,
        )
        sentences = [Sentence(list(ex.tokens), list(ex.tags or [])) for ex in data.examples]
        if path.lower().removesuffix(".gz").endswith(".jsonl"):
            from rawtune.data.readers.text import json_objects

            return Loaded("ner-jsonl", path, sentences, data.scheme, [obj for _, obj in json_objects(path)])
        return Loaded("conll", path, sentences, data.scheme, labeled.read_conll_layout(path))
    from rawtune.data.words import split_words

    data_t = labeled.read_text_table(path, text_column=d.text_column, label_column=d.label_column)
    columns, rows = labeled.read_table_rows(path, [d.text_column])
    spans, sentences = [], []
    for ex in data_t.examples:
        words = split_words(ex.text)
        sentences.append(Sentence([w for w, _, _ in words]))
        spans.append([(a, b) for _, a, b in words])
    return Loaded("table", path, sentences, layout=(columns, [row for _, row in rows]), spans=spans)


def render(loaded: Loaded, copies: list[Copy], d: Any) -> str:
    by_example: dict[int, list[Copy]] = {}
    for cp in copies:
        by_example.setdefault(cp.example, []).append(cp)
    if loaded.kind == "conll":
        return _conll(loaded, by_example, d)
    if loaded.kind == "ner-jsonl":
        return _ner_jsonl(loaded, by_example, d)
    return _table(loaded, by_example, d)


def _in_scheme(tags: list[str], scheme: str) -> list[str]:
    if scheme == "bioes":
        return iob2_to_bioes(tags)
    if scheme == "iob1":  # B- only where an entity directly follows one of the same type
        out, prev = [], "O"
        for t in tags:
            same = t.startswith("B-") and prev[2:] == t[2:]
            out.append(t if t == "O" or same else "I-" + t[2:])
            prev = t
        return out
    return tags


def _conll(loaded: Loaded, by_example: dict[int, list[Copy]], d: Any) -> str:
    blocks, sep = loaded.layout
    rows_of = [rows for kind, rows in blocks if kind == "sentence"]
    if len(rows_of) != len(loaded.sentences):  # the layout and the reader disagree: a bug, not bad data
        raise DataError("could not align the file's sentences with the reader's", file=loaded.path)
    out, s = io.StringIO(), 0
    for kind, value in blocks:
        if kind == "docstart":
            out.write(value + "\n\n")
            continue
        out.write("".join(sep.join(cols) + "\n" for cols in value) + "\n")
        for cp in by_example.get(s, []):
            assert cp.tags is not None
            for word, tag, (e, i) in zip(cp.words, _in_scheme(cp.tags, loaded.scheme), cp.origin):
                cols = list(rows_of[e][i])
                cols[d.token_column] = word
                cols[d.tag_column] = tag
                out.write(sep.join(cols) + "\n")
            out.write("\n")
        s += 1
    return out.getvalue()


def _ner_jsonl(loaded: Loaded, by_example: dict[int, list[Copy]], d: Any) -> str:
    objs = loaded.layout
    lines = []
    for e, obj in enumerate(objs):
        lines.append(json.dumps(obj, ensure_ascii=False))
        n = len(obj[d.tokens_field])
        for cp in by_example.get(e, []):
            assert cp.tags is not None
            new = dict(obj)
            for key, value in obj.items():  # per-token fields (e.g. "pos") follow their words
                if isinstance(value, list) and len(value) == n and key not in (d.tokens_field, d.tags_field):
                    new[key] = [objs[src][key][i] for src, i in cp.origin]
            new[d.tokens_field] = cp.words
            new[d.tags_field] = _in_scheme(cp.tags, loaded.scheme)
            lines.append(json.dumps(new, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def replaced_text(text: str, spans: list[tuple[int, int]], cp: Copy) -> str:
    pieces, last = [], 0
    for pos in sorted(cp.replaced):
        start, end = spans[pos]
        pieces += [text[last:start], cp.words[pos]]
        last = end
    return "".join(pieces) + text[last:]


def _table(loaded: Loaded, by_example: dict[int, list[Copy]], d: Any) -> str:
    columns, rows = loaded.layout
    out_rows = []
    for e, row in enumerate(rows):
        out_rows.append(row)
        for cp in by_example.get(e, []):
            out_rows.append({**row, d.text_column: replaced_text(row[d.text_column], loaded.spans[e], cp)})
    name = loaded.path.lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out_rows)
    buf = io.StringIO()
    if name.endswith(".tsv"):  # as the reader: no quoting (a field holds no tab or newline)
        w = csv.writer(buf, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
    else:
        w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in out_rows:
        w.writerow([r.get(c, "") for c in columns])
    return buf.getvalue()
