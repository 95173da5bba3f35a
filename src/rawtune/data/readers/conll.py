"""Token-classification data: CoNLL column files and JSON lines, tags converted to IOB2.

CoNLL (.conll, .txt, .tsv, .iob, .bio, anything not .jsonl): one token per line, columns split on
spaces or tabs, every token line with the same number of columns; a blank line ends a sentence
and `-DOCSTART-` starts a document. JSONL: one sentence per line, `{"tokens": [...], "tags": [...]}`.
Tags are checked (O, or B-/I-/E-/S-/L-/U- and a type), the scheme is declared or detected
(see `rawtune.data.labels`), everything becomes IOB2, and an `I-X` that starts an entity is an
error naming its file:line unless `repair=True` turns it into `B-X` (counted in `repairs`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rawtune.data.labels import (
    BIOES_ONLY,
    bioes_to_iob2,
    detect_scheme,
    iob1_to_iob2,
    is_valid_iob2,
    normalize_scheme,
    parse_tag,
    repair_iob2,
)
from rawtune.data.readers.examples import TokenData, TokenExample
from rawtune.data.readers.text import decoded_lines, json_objects, open_binary
from rawtune.errors import DataError

log = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"
_COLUMNS = re.compile(r"[ \t]+")
_REPAIR_HINT = "pass --repair-tags (data.repair_tags=true) to turn such tags into B-"


@dataclass
class _Sentence:
    """A sentence being read: tokens, tags and the line of every token."""

    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    doc: int | None = None


def _check_tag(tag: str, path: str, line: int) -> None:
    if parse_tag(tag) is None:
        raise DataError(
            f"invalid tag '{tag}': expected O, or B-, I-, E-, S-, L- or U- followed by an entity type",
            file=path,
            line=line,
            field="tag",
        )


def _check_token(token: str, path: str, line: int, name: str) -> None:
    if not token.strip():
        raise DataError("empty or whitespace-only token", file=path, line=line, field=name)


# --- CoNLL columns -----------------------------------------------------------------------------------
def _column_index(index: int, n: int, name: str, path: str, line: int) -> int:
    resolved = index + n if index < 0 else index
    if not 0 <= resolved < n:
        raise DataError(f"{name}={index} is out of range: the line has {n} columns", path, line, "columns")
    return resolved


def _iter_conll(path: str, token_column: int, tag_column: int, labeled: bool) -> Iterator[_Sentence]:
    sent, doc, ndocs, width, first = _Sentence(), None, 0, 0, 0
    tok_i = tag_i = 0
    for n, text in decoded_lines(path):
        if not text.strip():
            if sent.tokens:
                yield sent
                sent = _Sentence(doc=doc)
            continue
        cols = _COLUMNS.split(text.strip(" \t\r\n"))
        if cols[0] == DOCSTART:
            if sent.tokens:
                yield sent
            doc, ndocs = ndocs, ndocs + 1
            sent = _Sentence(doc=doc)
            continue
        if not width:
            width, first = len(cols), n
            tok_i = _column_index(token_column, width, "token_column", path, n)
            if labeled:
                tag_i = _column_index(tag_column, width, "tag_column", path, n)
                if tag_i == tok_i:
                    raise DataError(
                        f"the line has {width} column(s) and tag_column={tag_column} is the token column; "
                        "labeled data needs a token and a tag column",
                        path,
                        n,
                        "columns",
                    )
        elif len(cols) != width:
            raise DataError(
                f"expected {width} columns (as on line {first}, the first token line), got {len(cols)}",
                path,
                n,
                "columns",
            )
        _check_token(cols[tok_i], path, n, "token")
        sent.tokens.append(cols[tok_i])
        sent.lines.append(n)
        if labeled:
            _check_tag(cols[tag_i], path, n)
            sent.tags.append(cols[tag_i])
    if sent.tokens:
        yield sent


# --- JSON lines --------------------------------------------------------------------------------------
def _string_list(obj: dict[str, Any], name: str, path: str, n: int) -> list[str]:
    if name not in obj:
        raise DataError(f"missing field (has: {', '.join(obj) or 'nothing'})", path, n, name)
    value = obj[name]
    if not isinstance(value, list):
        raise DataError(f"expected a list of strings, got {type(value).__name__}", path, n, name)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DataError(f"item {i} is {type(item).__name__}, not a string", path, n, name)
    return value


def _iter_jsonl(
    path: str, tokens_field: str, tags_field: str, labeled: bool, doc_field: str
) -> Iterator[_Sentence]:
    for n, obj in json_objects(path):
        tokens = _string_list(obj, tokens_field, path, n)
        if not tokens:
            raise DataError("empty sentence", file=path, line=n, field=tokens_field)
        for token in tokens:
            _check_token(token, path, n, tokens_field)
        sent = _Sentence(tokens=tokens, lines=[n] * len(tokens), doc=_doc_id(obj, doc_field, path, n))
        if labeled:
            tags = _string_list(obj, tags_field, path, n)
            if len(tags) != len(tokens):
                raise DataError(
                    f"{len(tokens)} tokens but {len(tags)} tags", file=path, line=n, field=tags_field
                )
            for tag in tags:
                _check_tag(tag, path, n)
            sent.tags = tags
        yield sent


def _doc_id(obj: dict[str, Any], name: str, path: str, n: int) -> Any:
    """The line's document (consecutive lines with the same value form one), or None."""
    value = obj.get(name)
    if value is not None and not isinstance(value, (str, int)):
        raise DataError(
            f"a document id must be a string or an integer, not {type(value).__name__}", path, n, name
        )
    return value


# --- schemes -----------------------------------------------------------------------------------------
def _to_iob2(sents: list[_Sentence], scheme: str, path: str) -> str:
    """Convert every sentence's tags to IOB2 in place; returns the input scheme."""
    if scheme == "auto":
        scheme = detect_scheme(s.tags for s in sents)
    elif scheme != "bioes":
        for s in sents:
            for tag, line in zip(s.tags, s.lines):
                if tag[:1] in BIOES_ONLY:
                    raise DataError(
                        f"'{tag}' is not an {scheme.upper()} tag (E-/S-/L-/U- tags need scheme bioes)",
                        path,
                        line,
                        "tag",
                    )
    convert = {"iob1": iob1_to_iob2, "bioes": bioes_to_iob2}.get(scheme)
    if convert is not None:
        for s in sents:
            s.tags = convert(s.tags)
    return scheme


def _repair(sents: list[_Sentence], originals: list[list[str]], scheme: str, repair: bool, path: str) -> int:
    """Check IOB2 transitions; fix them (returning the count) or raise at the first bad one."""
    bad = [(s, orig, i) for s, orig in zip(sents, originals) if (i := is_valid_iob2(s.tags)) is not None]
    if not bad:
        return 0
    if not repair:
        s, orig, i = bad[0]
        before = f"after '{orig[i - 1]}'" if i else "at the start of a sentence"
        total = sum(repair_iob2(s.tags)[1] for s, _, _ in bad)
        iob1 = "; to read the file as IOB1, set data.scheme=iob1" if scheme == "iob2" else ""
        raise DataError(
            f"'{orig[i]}' {before} starts an entity, which {scheme.upper()} does not allow "
            f"({total} such tag(s) in the file{iob1}); {_REPAIR_HINT}",
            path,
            s.lines[i],
            "tag",
        )
    repairs = 0
    for s, _, _ in bad:
        s.tags, n = repair_iob2(s.tags)
        repairs += n
    log.warning("%s: repaired %d tag(s): I- at the start of an entity → B-", path, repairs)
    return repairs


def _dense_docs(sents: list[_Sentence], conll: bool) -> int:
    """Number documents 0..n-1 in order: a run of consecutive sentences with one id is a document
    (a JSONL id seen again after another document's lines starts a new one). In CoNLL the sentences
    before the first -DOCSTART- form a document; a JSONL line without an id stays alone (None)."""
    if all(s.doc is None for s in sents):
        return 0
    count, prev = -1, object()
    for s in sents:
        if s.doc is None and not conll:
            prev = object()
            continue
        if s.doc != prev:
            count, prev = count + 1, s.doc
        s.doc = count
    return count + 1


def read_token_file(
    path: str,
    *,
    token_column: int = 0,
    tag_column: int = -1,
    scheme: str = "auto",
    repair: bool = False,
    labeled: bool = True,
    tokens_field: str = "tokens",
    tags_field: str = "tags",
    doc_field: str = "doc",
) -> TokenData:
    """Every sentence of a CoNLL or JSONL file, tags in IOB2 (None when `labeled=False`), with its
    document when the file marks them (-DOCSTART- lines; a `doc_field` value in JSONL)."""
    scheme = normalize_scheme(scheme)
    name = path.lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        sents = list(_iter_jsonl(path, tokens_field, tags_field, labeled, doc_field))
    else:
        sents = list(_iter_conll(path, token_column, tag_column, labeled))
    if not sents:
        raise DataError("no sentences (the file is empty or has only -DOCSTART- lines)", file=path)
    repairs = 0
    if labeled:
        originals = [s.tags for s in sents]
        scheme = _to_iob2(sents, scheme, path)
        repairs = _repair(sents, originals, scheme, repair, path)
    else:
        scheme = "none"
    n_docs = _dense_docs(sents, conll=not name.endswith(".jsonl"))
    examples = [TokenExample(s.tokens, s.tags if labeled else None, path, s.lines[0], s.doc) for s in sents]
    return TokenData(examples=examples, file=path, scheme=scheme, repairs=repairs, n_docs=n_docs)


def iter_token_file(
    path: str,
    *,
    conll: bool,
    token_column: int = 0,
    tokens_field: str = "tokens",
    doc_field: str = "doc",
) -> Iterator[TokenExample]:
    """The sentences of an unlabeled CoNLL (`conll`) or JSONL token file one at a time (a file is
    never held whole), each with the document `read_token_file` gives it: a CoNLL file is scanned
    once for -DOCSTART- lines first (without one, every sentence is alone). A file without sentences
    is an error once its end is reached."""
    if conll:
        marked = has_docstart(path)
        sents = _iter_conll(path, token_column, token_column, labeled=False)
    else:
        marked = True
        sents = _iter_jsonl(path, tokens_field, "tags", False, doc_field)
    count, prev, empty = -1, object(), True
    for s in sents:
        doc = None
        if marked and (conll or s.doc is not None):
            if s.doc != prev:
                count, prev = count + 1, s.doc
            doc = count
        elif marked:
            prev = object()  # a JSONL line without an id is alone, and ends the document before it
        empty = False
        yield TokenExample(s.tokens, None, path, s.lines[0], doc)
    if empty:
        raise DataError("no sentences (the file is empty or has only -DOCSTART- lines)", file=path)


def has_docstart(path: str) -> bool:
    """Whether a CoNLL file marks documents (a -DOCSTART- line), read as bytes (cheap)."""
    mark = DOCSTART.encode()
    try:
        with open_binary(path) as f:
            return any(line.lstrip().startswith(mark) for line in f)
    except OSError:
        return False  # the reader that follows reports the file's problem


def read_conll_layout(path: str) -> tuple[list[tuple[str, Any]], str]:
    """The layout of a CoNLL file, for writing one like it: ("docstart", the line as written) and
    ("sentence", [columns of each token line]) blocks in file order (blank lines between sentences
    are not kept), and the column separator of the first token line (a tab, or a space). Sentences
    come in the order, and with the tokens, of `read_token_file`'s examples."""
    blocks = list(iter_conll_layout(path))
    sep = next((" " if b[2] is None else b[2] for b in blocks if b[0] == "sentence"), " ")
    return [(kind, value) for kind, value, _ in blocks], sep


def iter_conll_layout(path: str) -> Iterator[tuple[str, Any, str | None]]:
    """`read_conll_layout`'s blocks one at a time, each with its column separator (a tab or a space;
    None for a docstart line)."""
    rows: list[list[str]] = []
    sep: str | None = None
    for _, text in decoded_lines(path):
        if not text.strip():
            if rows:
                yield "sentence", rows, sep
                rows = []
            continue
        line = text.strip(" \t\r\n")
        cols = _COLUMNS.split(line)
        if cols[0] == DOCSTART:
            if rows:
                yield "sentence", rows, sep
                rows = []
            yield "docstart", line, None
            continue
        sep = sep or ("\t" if "\t" in line else " ")
        rows.append(cols)
    if rows:
        yield "sentence", rows, sep
