"""Prediction inputs: which format a file is in, from its content as well as its name, and the lines
of a plain-text input grouped into documents.

A name says most formats (.conll, .jsonl, .csv, .tsv, .json). A `.txt` (or a name that says
nothing) is looked at: CoNLL-2003's own files are `train.txt`/`test.txt`, and read as plain text
every `word POS chunk tag` line would be a sentence. Its first non-blank lines decide: a -DOCSTART-
line, or every line the same number (2 or more) of columns ending in a tag (O, B-X, ...), is
CoNLL; a JSON object per line is JSONL; lines of one column, or of the same number of columns not
ending in tags, grouped by blank lines, could be either (tokens, or short texts), and are refused
with the way to choose (`--input-format`); anything else is plain text."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from rawtune.data.readers.text import Document, decoded_lines, open_binary
from rawtune.errors import DataError

INPUT_FORMATS = ("txt", "conll", "jsonl", "csv", "tsv", "json")
_BY_NAME = {
    ".jsonl": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".conll": "conll",
    ".conllu": "conll",
    ".iob": "conll",
    ".iob2": "conll",
    ".bio": "conll",
    ".bioes": "conll",
}
_SAMPLE = 200  # non-blank lines looked at


def input_format(path: str, forced: str | None = None) -> str:
    """The format of the input file `path`: `forced` when given, else its name's, else its
    content's (see the module); an ambiguous file is refused saying how to choose."""
    if forced is not None:
        if forced not in INPUT_FORMATS:
            raise DataError(f"unknown input format {forced!r}; choose one of {', '.join(INPUT_FORMATS)}")
        return forced
    name = path.lower().removesuffix(".gz")
    by_name = next((fmt for ext, fmt in _BY_NAME.items() if name.endswith(ext)), None)
    return by_name or _sniff(path)


def _sniff(path: str) -> str:
    lines, groups = _sample(path)
    if not lines:
        return "txt"  # the reader reports an empty file
    if any(line.startswith("-DOCSTART-") for line in lines):
        return "conll"
    if lines[0].startswith("{") and _json_object(lines[0]):
        return "jsonl"
    widths = {len(line.split()) for line in lines}
    grouped = len(lines) >= 2 * max(groups, 1) and groups > 1  # blank lines hold 2+ lines together
    if len(widths) == 1 and (width := widths.pop()) >= 2:
        if all(_is_tag(line.split()[-1]) for line in lines):
            return "conll"
        if grouped:
            raise _ambiguous(path, f"every line has {width} columns")
    elif widths == {1} and grouped:
        raise _ambiguous(path, "one word per line")
    return "txt"


def _sample(path: str) -> tuple[list[str], int]:
    """The first non-blank lines (decoded leniently: the reader reports bad bytes with their line)
    and how many blank-line separated groups they fall into."""
    lines: list[str] = []
    groups, blank = 0, True
    try:
        with open_binary(path) as f:
            for raw in itertools.islice(f, _SAMPLE * 4):
                text = raw.decode("utf-8", errors="replace").strip()
                if not text:
                    blank = True
                    continue
                groups += blank
                blank = False
                lines.append(text)
                if len(lines) == _SAMPLE:
                    break
    except OSError:
        return [], 0  # the reader that follows says what is wrong with the file
    return lines, groups


def _json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _is_tag(value: str) -> bool:
    from rawtune.data.labels import parse_tag

    return parse_tag(value) is not None


def _ambiguous(path: str, why: str) -> DataError:
    return DataError(
        f"could be CoNLL ({why}, sentences between blank lines) or plain text (a text per line); "
        "choose with --input-format conll or --input-format txt",
        file=path,
    )


def text_inputs(path: str, *, documents: bool) -> Iterator[tuple[Document, int | None]]:
    """(line, document) for every non-blank line of a plain-text input, decoded strictly (a bad
    byte is an error naming its line). With `documents`, a file where blank lines separate
    paragraphs makes each paragraph's lines one document (numbered from 0); without blank lines
    between text lines, and without `documents`, each line is alone (None)."""
    paragraphs = documents and _has_paragraphs(path)
    doc, blank = -1, True
    for n, text in decoded_lines(path):
        if not text.strip():
            blank = True
            continue
        doc += blank
        blank = False
        yield Document(text, path, n), doc if paragraphs else None


def _has_paragraphs(path: str) -> bool:
    """A blank line between two text lines (read as bytes: cheap)."""
    seen_text = seen_gap = False
    try:
        with open_binary(path) as f:
            for raw in f:
                if raw.strip():
                    if seen_gap:
                        return True
                    seen_text = True
                elif seen_text:
                    seen_gap = True
    except OSError:
        return False  # the reader that follows reports the file's problem
    return False
