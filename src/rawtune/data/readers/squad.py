"""Extractive question answering data: SQuAD JSON (v1.1 and v2.0) and JSON lines.

SQuAD JSON: `{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
"answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}`. JSONL (`.jsonl`): one question per
line, `{"id", "question", "context", "answers": {"text": [...], "answer_start": [...]}}` as in Hugging
Face datasets' squad / squad_v2. A question without answers (`is_impossible`, or an empty answer
list in JSONL) has no answer in its context (SQuAD v2).

Problems are `DataError`s naming the file and, for JSONL, the line; for SQuAD JSON, where the file
is usually one line, the JSON path of the question (`data[3].paragraphs[0].qas[2]`) and its id. An
`answer_start` whose context text is not the answer's text is an error unless `repair=True` moves
it to the nearest occurrence of the text in the context (counted in `QAData.answer_repairs`); a
text that does not occur at all is always an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rawtune.data.readers.text import decoded_lines, json_objects
from rawtune.errors import DataError


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset of the answer in the context

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    """A question about a context. `answers`: the gold answers (the first one trains), () when the
    context holds no answer (SQuAD v2), None when unlabeled."""

    question: str
    context: str
    answers: tuple[Answer, ...] | None
    id: str
    file: str
    line: int  # JSONL: the 1-based line; SQuAD JSON: the question's 1-based position in the file
    where: str  # how errors name it: "line 12" or "data[0].paragraphs[3].qas[2] (id 5733be28)"

    @property
    def has_answer(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class QAData:
    examples: list[QAExample]
    file: str
    version: str | None = None  # SQuAD JSON's "version" field
    answer_repairs: int = 0  # answer_start offsets moved to where the text is (repair=True)

    @property
    def unanswerable(self) -> int:
        return sum(1 for ex in self.examples if ex.answers == ())


class _Place:
    """Where a question is, for error messages."""

    def __init__(self, path: str, line: int | None, where: str):
        self.path, self.line, self.where = path, line, where

    def error(self, message: str, field: str) -> DataError:
        if self.line is not None:
            return DataError(message, file=self.path, line=self.line, field=field)
        return DataError(message, file=self.path, field=f"{self.where}: {field}")


def _string(value: Any, field: str, place: _Place, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise place.error(f"expected a string, got {kind}", field)
    if not empty_ok and not value.strip():
        raise place.error("empty text", field)
    return value


def _offset(value: Any, field: str, place: _Place) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise place.error(f"expected an integer character offset, got {value!r:.40}", field)
    return value


def _aligned(
    text: str, start: int, context: str, field: str, place: _Place, repair: bool
) -> tuple[int, bool]:
    """(start, repaired): `start` when the context holds `text` there, else (repair=True) the nearest
    occurrence of `text`."""
    if not text.strip():
        raise place.error("empty answer text", field + ".text")
    if start >= 0 and context[start : start + len(text)] == text:
        return start, False
    found = list(_occurrences(context, text))
    if not found:
        raise place.error(f"the answer text {text!r:.60} does not occur in the context", field + ".text")
    if not repair:
        at = context[max(start, 0) : max(start, 0) + len(text)]
        raise place.error(
            f"answer_start {start} points at {at!r:.60}, not at the answer text {text!r:.60} (it occurs "
            f"at {found[:5]}); pass --data.repair_answers=true to move it to the nearest occurrence",
            field + ".answer_start",
        )
    return min(found, key=lambda i: abs(i - start)), True


def _occurrences(context: str, text: str) -> Iterator[int]:
    i = context.find(text)
    while i >= 0:
        yield i
        i = context.find(text, i + 1)


def _example(
    raw: dict[str, Any],
    context: str,
    answers: list[tuple[Any, Any]] | None,
    place: _Place,
    ordinal: int,
    repair: bool,
) -> tuple[QAExample, int]:
    """One question; `answers` [(text, answer_start)] (empty: no answer), None when unlabeled."""
    question = _string(raw.get("question"), "question", place)
    qid = raw.get("id")
    qid = str(qid) if qid is not None else place.where
    gold: tuple[Answer, ...] | None = None
    repairs = 0
    if answers is not None:
        found = []
        for k, (text, start) in enumerate(answers):
            field = f"answers[{k}]"
            text = _string(text, field + ".text", place, empty_ok=True)
            begin, fixed = _aligned(
                text, _offset(start, field + ".answer_start", place), context, field, place, repair
            )
            repairs += fixed
            found.append(Answer(text, begin))
        gold = tuple(found)
    line = place.line if place.line is not None else ordinal
    return QAExample(question, context, gold, qid, place.path, line, place.where), repairs


# --- SQuAD JSON --------------------------------------------------------------------------------------
def _load_json(path: str) -> Any:
    text = "".join(t for _, t in decoded_lines(path, keep_ends=True))
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e.msg} (column {e.colno})", file=path, line=e.lineno) from None


def _list(obj: Any, key: str, path: str, where: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, list):
        got = "missing" if not isinstance(obj, dict) or key not in obj else type(value).__name__
        raise DataError(f"expected a list, got {got}", file=path, field=f"{where}.{key}".lstrip("."))
    return value


def _json_answers(qa: dict[str, Any], place: _Place) -> list[tuple[Any, Any]]:
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise place.error(f"expected true or false, got {impossible!r:.20}", "is_impossible")
    if impossible:
        return []
    answers = qa.get("answers")
    if not isinstance(answers, list) or not answers:
        raise place.error("no answers (and is_impossible is not true)", "answers")
    for k, a in enumerate(answers):
        if not isinstance(a, dict):
            raise place.error(f"expected an object, got {type(a).__name__}", f"answers[{k}]")
    return [(a.get("text"), a.get("answer_start")) for a in answers]


def _read_json(path: str, labeled: bool, repair: bool) -> QAData:
    root = _load_json(path)
    if not isinstance(root, dict):
        raise DataError("expected a SQuAD JSON object with a 'data' list", file=path)
    examples, repairs = [], 0
    for i, article in enumerate(_list(root, "data", path, "")):
        for j, para in enumerate(_list(article, "paragraphs", path, f"data[{i}]")):
            at = f"data[{i}].paragraphs[{j}]"
            context = _string(para.get("context"), "context", _Place(path, None, at))
            for k, qa in enumerate(_list(para, "qas", path, at)):
                where = f"{at}.qas[{k}]"
                if not isinstance(qa, dict):
                    raise DataError(f"expected an object, got {type(qa).__name__}", file=path, field=where)
                if qa.get("id") is not None:
                    where += f" (id {qa['id']})"
                place = _Place(path, None, where)
                answers = _json_answers(qa, place) if labeled else None
                ex, fixed = _example(qa, context, answers, place, len(examples) + 1, repair)
                examples.append(ex)
                repairs += fixed
    version = root.get("version")
    return QAData(examples, path, str(version) if version is not None else None, repairs)


# --- JSON lines --------------------------------------------------------------------------------------
def _jsonl_answers(obj: dict[str, Any], place: _Place) -> list[tuple[Any, Any]]:
    answers = obj.get("answers")
    if not isinstance(answers, dict):
        got = "missing" if "answers" not in obj else type(answers).__name__
        raise place.error(f"expected {{'text': [...], 'answer_start': [...]}}, got {got}", "answers")
    texts, starts = answers.get("text"), answers.get("answer_start")
    if not isinstance(texts, list) or not isinstance(starts, list):
        raise place.error("'text' and 'answer_start' must both be lists", "answers")
    if len(texts) != len(starts):
        raise place.error(f"{len(texts)} texts but {len(starts)} answer_start offsets", "answers")
    return list(zip(texts, starts))


def _read_jsonl(path: str, labeled: bool, repair: bool) -> QAData:
    examples, repairs = [], 0
    for n, obj in json_objects(path):
        place = _Place(path, n, f"line {n}")
        context = _string(obj.get("context"), "context", place)
        answers = _jsonl_answers(obj, place) if labeled else None
        ex, fixed = _example(obj, context, answers, place, n, repair)
        examples.append(ex)
        repairs += fixed
    return QAData(examples, path, None, repairs)


def read_squad(path: str, *, labeled: bool = True, repair: bool = False) -> QAData:
    """Every question of a SQuAD JSON (.json) or JSON-lines (.jsonl) file, in file order."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        data = _read_jsonl(path, labeled, repair)
    elif name.endswith(".json"):
        data = _read_json(path, labeled, repair)
    else:
        raise DataError("unsupported file type for qa (supported: SQuAD .json, .jsonl)", file=path)
    if not data.examples:
        raise DataError("no questions", file=path)
    return data
