"""Generation data: a source and the target text to generate from it, or a dialogue.

JSONL: one object per line with a source and a target field (`{"source": ..., "target": ...}` by
default; a source may be a list of sentences, joined by spaces, and a target a list of references:
the first is trained on, all of them score an evaluation), or a dialogue: a list of turns (`"turns"` by default) — plain strings, spoken in turn by
`roles`, or `{"role", "content"}` objects (chat messages; `text` instead of `content` works too).
A dialogue's history, each turn written with `turn_template`, plus that template's opening for the
last speaker is the source; the last turn is the target. CSV/TSV with a header hold source/target
columns. Unlabeled input (prediction) needs only the source (or the turns, all of them history);
`.txt` is one source per line. Every problem is a `DataError` naming file, line and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rawtune.data.readers.tables import text_field
from rawtune.errors import DataError


@dataclass(frozen=True)
class GenExample:
    source: str
    target: str | None  # None when unlabeled
    file: str
    line: int
    references: tuple[str, ...] | None = None  # every reference when the target field held several


@dataclass(frozen=True)
class GenData:
    examples: list[GenExample]
    file: str


@dataclass(frozen=True)
class Fields:
    source: str = "source"
    target: str = "target"
    turns: str = "turns"
    roles: tuple[str, ...] = ("user", "assistant")
    turn_template: str = "{role}: {text}\n"


def _texts(value: Any, path: str, line: int, name: str) -> list[str]:
    """A string, or a list of strings (each must be a string, named by its index); empty items of a
    list are left out (an empty sentence of an abstract), an empty list or all-empty one is refused."""
    if not isinstance(value, list):
        return [text_field(value, path, line, name)]
    for i, v in enumerate(value):
        if not isinstance(v, str):
            text_field(v, path, line, f"{name}[{i}]")
    texts = [v for v in value if v.strip()]
    if not texts:
        raise DataError("no text in the list", path, line, name)
    return texts


def _turn(turn: Any, i: int, roles: Sequence[str], path: str, line: int, name: str) -> tuple[str, str]:
    where = f"{name}[{i}]"
    if isinstance(turn, str):
        return roles[i % len(roles)], text_field(turn, path, line, where)
    if isinstance(turn, dict):
        key = "content" if "content" in turn else "text"
        if "role" not in turn or key not in turn:
            raise DataError("a turn object needs 'role' and 'content' (or 'text')", path, line, where)
        return text_field(turn["role"], path, line, f"{where}.role"), text_field(
            turn[key], path, line, f"{where}.{key}"
        )
    raise DataError(f"a turn must be a string or an object, got {type(turn).__name__}", path, line, where)


def _next_role(turns: list[tuple[str, str]], roles: Sequence[str], strings: bool) -> str:
    if strings:
        return roles[len(turns) % len(roles)]
    last = turns[-1][0]
    return roles[(roles.index(last) + 1) % len(roles)] if last in roles else roles[-1]


def render_dialogue(history: list[tuple[str, str]], respond_as: str, template: str) -> str:
    """The history's turns written with `template`, then its opening ("assistant: ") for the reply."""
    opening = template[: template.index("{text}")]
    return "".join(template.format(role=r, text=t) for r, t in history) + opening.format(role=respond_as)


def _dialogue(value: Any, fields: Fields, labeled: bool, path: str, line: int) -> tuple[str, str | None]:
    name = fields.turns
    if not isinstance(value, list):
        raise DataError(f"expected a list of turns, got {type(value).__name__}", path, line, name)
    need = 2 if labeled else 1
    if len(value) < need:
        raise DataError(
            f"a dialogue needs at least {need} turn(s) (the history and the reply to learn)", path, line, name
        )
    turns = [_turn(t, i, fields.roles, path, line, name) for i, t in enumerate(value)]
    if labeled:
        (role, reply), history = turns[-1], turns[:-1]
        return render_dialogue(history, role, fields.turn_template), reply
    strings = all(isinstance(t, str) for t in value)
    return render_dialogue(turns, _next_role(turns, fields.roles, strings), fields.turn_template), None


def parse_example(row: dict[str, Any], fields: Fields, labeled: bool, path: str, line: int) -> GenExample:
    if fields.turns in row and fields.source not in row:
        source, target = _dialogue(row[fields.turns], fields, labeled, path, line)
        return GenExample(source, target, path, line)
    if fields.source not in row:
        from rawtune.data.readers.tables import missing_column

        raise missing_column(fields.source, list(row), path, line)
    source = " ".join(_texts(row[fields.source], path, line, fields.source))
    if not labeled:
        return GenExample(source, None, path, line)
    if fields.target not in row:
        from rawtune.data.readers.tables import missing_column

        raise missing_column(fields.target, list(row), path, line)
    refs = _texts(row[fields.target], path, line, fields.target)
    return GenExample(source, refs[0], path, line, tuple(refs) if len(refs) > 1 else None)


def read_generation_file(path: str, fields: Fields = Fields(), *, labeled: bool = True) -> GenData:
    """Every line of a JSONL file (or row of a CSV/TSV, or line of a .txt for unlabeled input)."""
    from rawtune.data.readers.tables import table_rows

    name = path.lower().removesuffix(".gz")
    needed = [] if name.endswith(".jsonl") else [fields.source, *([fields.target] if labeled else [])]
    examples = [
        parse_example(row, fields, labeled, path, line)
        for line, row in table_rows(path, needed, fields.source, labeled, [])
    ]
    if not examples:
        raise DataError("empty file: no examples", file=path)
    return GenData(examples=examples, file=path)
