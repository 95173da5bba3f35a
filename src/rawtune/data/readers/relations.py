"""Relation extraction data: JSON lines, one entity pair per line.

    {"tokens": ["Ada", "Lovelace", "was", "born", "in", "London", "."],
     "head": {"start": 0, "end": 2, "type": "PER"}, "tail": {"start": 5, "end": 6, "type": "LOC"},
     "label": "born_in"}
    {"text": "Ada Lovelace was born in London.",
     "head": {"start": 0, "end": 12, "type": "PER"}, "tail": {"start": 25, "end": 31, "type": "LOC"},
     "label": "born_in"}

With `tokens`, `head`/`tail` `start`/`end` are token indices (end exclusive); with `text` (and no
`tokens`) they are character offsets (end exclusive). `type` is optional; a span may carry its
`text`, which must then equal what the offsets cover (it catches off-by-one offsets). The label
key is `label` (`data.label_column`); unlabeled files (prediction) may leave it out.

Either way an example becomes one string with character spans: tokens are joined by single
spaces, and `token_spans` keeps every token's character span so predictions can be mapped back to
token indices. Problems are `DataError`s naming the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rawtune.data.readers.text import json_objects
from rawtune.errors import DataError


@dataclass(frozen=True)
class Entity:
    start: int  # character offsets into the example's text, end exclusive
    end: int
    type: str | None = None


@dataclass(frozen=True)
class RelationExample:
    text: str
    head: Entity
    tail: Entity
    label: str | None
    file: str
    line: int
    token_spans: tuple[tuple[int, int], ...] | None = None  # `tokens` input: each token's characters

    def token_index(self, ent: Entity) -> tuple[int, int]:
        """(start, end) token indices of an entity of a `tokens` example."""
        assert self.token_spans is not None
        starts = [s for s, _ in self.token_spans]
        ends = [e for _, e in self.token_spans]
        return starts.index(ent.start), ends.index(ent.end) + 1


@dataclass(frozen=True)
class RelationData:
    examples: list[RelationExample]
    file: str


def _int(value: Any, field: str, path: str, line: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"expected an integer, got {value!r:.40}", file=path, line=line, field=field)
    return value


def _tokens(value: Any, path: str, line: int) -> tuple[str, tuple[tuple[int, int], ...]]:
    if not isinstance(value, list) or not value:
        raise DataError("expected a non-empty list of strings", file=path, line=line, field="tokens")
    spans, at = [], 0
    for i, tok in enumerate(value):
        if not isinstance(tok, str) or not tok or tok != tok.strip() or tok.split() != [tok]:
            raise DataError(
                f"expected a word without spaces, got {tok!r:.40}", file=path, line=line, field=f"tokens[{i}]"
            )
        spans.append((at, at + len(tok)))
        at += len(tok) + 1
    return " ".join(value), tuple(spans)


def _entity(
    obj: dict[str, Any], key: str, text: str, spans: tuple[tuple[int, int], ...] | None, path: str, line: int
) -> Entity:
    raw = obj.get(key)
    if not isinstance(raw, dict):
        got = "missing" if key not in obj else type(raw).__name__
        raise DataError(
            f"expected an object {{'start', 'end', 'type'}}, got {got}", file=path, line=line, field=key
        )
    start = _int(raw.get("start"), f"{key}.start", path, line)
    end = _int(raw.get("end"), f"{key}.end", path, line)
    size, unit = (len(spans), "tokens") if spans is not None else (len(text), "characters")
    if not 0 <= start < end <= size:
        raise DataError(
            f"span [{start}, {end}) is out of range or empty: the input has {size} {unit} "
            f"(start < end <= {size}; end is exclusive)",
            file=path,
            line=line,
            field=key,
        )
    if spans is not None:
        start, end = spans[start][0], spans[end - 1][1]
    elif not text[start:end].strip() or text[start:end] != text[start:end].strip():
        raise DataError(
            f"span [{start}, {end}) covers {text[start:end]!r:.40}: it must start and end on a "
            "non-space character",
            file=path,
            line=line,
            field=key,
        )
    kind = raw.get("type")
    if kind is not None and (not isinstance(kind, str) or not kind.strip() or kind.split() != [kind]):
        raise DataError(
            f"expected a type name without spaces, got {kind!r:.40}",
            file=path,
            line=line,
            field=f"{key}.type",
        )
    said = raw.get("text")
    if said is not None and said != text[start:end]:
        raise DataError(
            f"the span covers {text[start:end]!r:.60}, not its text {said!r:.60}",
            file=path,
            line=line,
            field=f"{key}.text",
        )
    return Entity(start, end, kind)


def parse_example(
    obj: dict[str, Any], path: str, line: int, *, label_column: str = "label", labeled: bool = True
) -> RelationExample:
    """One relation example from a decoded JSON object (a file line or a prediction input)."""
    spans = None
    if "tokens" in obj:
        text, spans = _tokens(obj["tokens"], path, line)
    elif isinstance(obj.get("text"), str) and obj["text"].strip():
        text = obj["text"]
    else:
        got = "missing" if "text" not in obj else f"{obj['text']!r:.40}"
        raise DataError(f"expected `tokens` (a list of words) or `text` (a non-empty string), got {got}",
                        file=path, line=line, field="text")  # fmt: skip
    head = _entity(obj, "head", text, spans, path, line)
    tail = _entity(obj, "tail", text, spans, path, line)
    if head.start < tail.end and tail.start < head.end:
        raise DataError(
            f"head {text[head.start : head.end]!r:.40} and tail {text[tail.start : tail.end]!r:.40} "
            "overlap: a relation holds between two distinct mentions",
            file=path,
            line=line,
            field="tail",
        )
    label = None
    if labeled:
        label = obj.get(label_column)
        if not isinstance(label, str) or not label.strip():
            hint = (
                " (this line has 'relation': pass --data.label_column=relation)" if "relation" in obj else ""
            )
            got = "missing" if label_column not in obj else f"{label!r:.40}"
            raise DataError(
                f"expected a relation label, got {got}{hint}", file=path, line=line, field=label_column
            )
    return RelationExample(text, head, tail, label, path, line, spans)


def read_relations(path: str, *, label_column: str = "label", labeled: bool = True) -> RelationData:
    if not path.lower().endswith(".jsonl"):
        raise DataError(
            "relation data is JSON lines (.jsonl): one entity pair per line (a JSON array, as TACRED's "
            ".json files are, needs one object written per line)",
            file=path,
        )
    examples = [
        parse_example(obj, path, n, label_column=label_column, labeled=labeled)
        for n, obj in json_objects(path)
    ]
    return RelationData(examples, path)
