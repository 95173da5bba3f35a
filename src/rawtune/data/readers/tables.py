"""Classification and sentence-pair data: CSV, TSV and JSONL tables, and plain text for prediction.

CSV (quoted fields allowed) and TSV (no quoting: a field may not hold a tab or a newline) need a
header row; JSONL has one object per line. Line numbers are physical lines (a CSV row with quoted
newlines is reported at its first line). `.txt` is one text per line, unlabeled input only.
Labels: "single" → str (JSON numbers and booleans via str()), "multi" → list of str (a JSON list,
or a string split on `multi_label_sep`), "regression" → a finite float.
"""

from __future__ import annotations

import csv
import difflib
import logging
import math
from collections.abc import Iterator
from typing import Any

from rawtune.data.readers.examples import TextData, TextExample
from rawtune.data.readers.text import decoded_lines, json_objects
from rawtune.errors import DataError

log = logging.getLogger("rawtune")
LABEL_KINDS = ("single", "multi", "regression")
_CSV_FIELD_LIMIT = 2**31 - 1

Row = tuple[int, dict[str, Any]]  # (starting line, column → value)


def missing_column(name: str, columns: list[str], path: str, line: int | None) -> DataError:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return DataError(
        f"no column '{name}' (columns: {', '.join(columns) or 'none'}){hint}",
        file=path,
        line=line,
        field=name,
    )


# --- formats: each yields (line, row) after checking the header ---------------------------------------
def _csv_rows(path: str, delimiter: str, needed: list[str], columns: list[str]) -> Iterator[Row]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    lines = (text for _, text in decoded_lines(path, keep_ends=True))
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader, None)
        while header == []:
            header = next(reader, None)
        if header is None:
            raise DataError("empty file (a header row is needed)", file=path)
        header_line = reader.line_num
        columns += [h.strip() for h in header]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise DataError(f"duplicate column(s) in the header: {dupes}", file=path, line=header_line)
        for name in needed:
            if name not in columns:
                raise missing_column(name, columns, path, header_line)
        start = reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(columns):
                    raise DataError(
                        f"row has {len(row)} fields, the header has {len(columns)}", file=path, line=start
                    )
                yield start, dict(zip(columns, row))
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(
            f"invalid {'TSV' if delimiter == chr(9) else 'CSV'}: {e}", path, reader.line_num
        ) from None


def _jsonl_rows(path: str, needed: list[str], columns: list[str]) -> Iterator[Row]:
    for n, obj in json_objects(path):
        columns += [k for k in obj if k not in columns]
        for name in needed:
            if name not in obj:
                raise missing_column(name, list(obj), path, n)
        yield n, obj


def _txt_rows(path: str, text_column: str, columns: list[str]) -> Iterator[Row]:
    columns.append(text_column)
    for n, text in decoded_lines(path):
        if text.strip():
            yield n, {text_column: text.strip()}


# --- values ------------------------------------------------------------------------------------------
def text_field(value: Any, path: str, line: int, name: str) -> str:
    """`value` of field `name` at path:line as a non-empty string, else one DataError naming them."""
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise DataError(f"expected a string, got {kind}", path, line, name)
    if not value.strip():
        raise DataError("empty text", path, line, name)
    return value


def _label(value: Any, kind: str, sep: str, name: str, path: str, line: int) -> str | list[str] | float:
    if value is None or (isinstance(value, str) and not value.strip() and kind != "multi"):
        raise DataError("missing label", path, line, name)
    if kind == "single":
        if isinstance(value, (list, dict)):
            raise DataError(f"expected one label, got a {type(value).__name__}", path, line, name)
        return str(value).strip()
    if kind == "multi":
        items = value if isinstance(value, list) else str(value).split(sep)
        if any(isinstance(x, (list, dict)) or x is None for x in items):
            raise DataError("expected a list of labels (strings)", path, line, name)
        return [s for s in (str(x).strip() for x in items) if s]
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"expected a number, got {value!r:.40}", path, line, name) from None
    if not math.isfinite(number):
        raise DataError(f"expected a finite number, got {value!r:.40}", path, line, name)
    return number


def table_rows(
    path: str, needed: list[str], text_column: str, labeled: bool, columns: list[str], fmt: str | None = None
) -> Iterator[Row]:
    """(line, row) of a CSV, TSV, JSONL or (unlabeled) TXT table, its format `fmt` ("csv", "tsv",
    "jsonl", "txt") or else picked by the extension; `columns` gets the header, and a missing
    `needed` column is a DataError naming it."""
    name = path.lower().removesuffix(".gz")
    fmt = fmt or next((f for f in ("csv", "tsv", "jsonl", "txt") if name.endswith(f".{f}")), None)
    if fmt == "csv":
        return _csv_rows(path, ",", needed, columns)
    if fmt == "tsv":
        return _csv_rows(path, "\t", needed, columns)
    if fmt == "jsonl":
        return _jsonl_rows(path, needed, columns)
    if fmt == "txt":
        if labeled:
            raise DataError("a .txt file holds no labels; use .csv, .tsv or .jsonl", file=path)
        return _txt_rows(path, text_column, columns)
    raise DataError("unsupported file type (supported: .csv, .tsv, .jsonl; .txt for unlabeled)", file=path)


def read_table_rows(path: str, needed: list[str]) -> tuple[list[str], list[Row]]:
    """The columns and every (line, row) of a CSV/TSV/JSONL table as written (values untouched), for
    writing one like it; the `needed` columns must be there (an error names file, line, column)."""
    columns: list[str] = []
    rows = list(table_rows(path, needed, needed[0] if needed else "text", True, columns))
    if not rows:
        raise DataError("no rows", file=path)
    return columns, rows


def read_text_table(
    path: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    text_b_column: str | None = None,
    label_kind: str = "single",
    multi_label_sep: str | None = None,
    labeled: bool = True,
) -> TextData:
    """Every row of a CSV/TSV/JSONL table (or .txt lines) as a TextExample."""
    columns: list[str] = []
    rows = iter_text_table(
        path,
        text_column=text_column,
        label_column=label_column,
        text_b_column=text_b_column,
        label_kind=label_kind,
        multi_label_sep=multi_label_sep,
        labeled=labeled,
        columns=columns,
    )
    examples = list(rows)
    return TextData(examples=examples, file=path, columns=columns)


def iter_text_table(
    path: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    text_b_column: str | None = None,
    label_kind: str = "single",
    multi_label_sep: str | None = None,
    labeled: bool = True,
    fmt: str | None = None,
    columns: list[str] | None = None,
) -> Iterator[TextExample]:
    """`read_text_table`'s examples one row at a time (a file is never held whole), the format
    `fmt` or else the extension's; `columns` gets the header. A file without rows is an error once
    its end is reached."""
    if label_kind not in LABEL_KINDS:
        raise ValueError(f"label_kind must be one of {LABEL_KINDS}, not {label_kind!r}")
    sep = multi_label_sep or "|"
    needed = [text_column, *([text_b_column] if text_b_column else []), *([label_column] if labeled else [])]
    columns = [] if columns is None else columns
    empty = True
    for line, row in table_rows(path, needed, text_column, labeled, columns, fmt):
        text = text_field(row[text_column], path, line, text_column)
        text_b = text_field(row[text_b_column], path, line, text_b_column) if text_b_column else None
        label = _label(row[label_column], label_kind, sep, label_column, path, line) if labeled else None
        empty = False
        yield TextExample(text=text, label=label, file=path, line=line, text_b=text_b)
    if empty:
        header = fmt in ("csv", "tsv") or path.lower().removesuffix(".gz").endswith((".csv", ".tsv"))
        raise DataError("no rows after the header" if header else "empty file: no rows", file=path)


def read_scored_table(
    path: str | None, text_column: str, label_column: str, labels: list[str]
) -> tuple[TextData, bool]:
    """A table to score against known `labels` (`rawtune zeroshot`), and whether it is labeled (it is
    unless it lacks the label column or is .txt). Every gold label must be one of `labels`: the
    first one that is not is named with file:line."""
    assert path is not None
    try:
        data = read_text_table(path, text_column=text_column, label_column=label_column)
        labeled = True
    except DataError as e:
        if e.field != label_column and not path.lower().endswith(".txt"):
            raise
        log.warning("%s: no '%s' column: scoring without gold labels (%s)", path, label_column, e)
        data = read_text_table(path, text_column=text_column, labeled=False)
        labeled = False
    if labeled:
        known = set(labels)
        for ex in data.examples:
            if ex.label not in known:
                raise DataError(
                    f"gold label {ex.label!r} is not in --labels ({', '.join(labels)})",
                    file=ex.file,
                    line=ex.line,
                    field=label_column,
                )
    return data, labeled
