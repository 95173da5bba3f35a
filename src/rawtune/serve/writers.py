"""The formats `rawtune predict` writes (`--format`): the records as JSON lines (as they are
computed), or, once the input is complete, converted to

- conll (NER): each input token line with its predicted tag added as the last column — a CoNLL
  input's own columns and -DOCSTART- lines kept, so a labeled file's gold tag and the prediction
  sit side by side as conlleval reads them (and spaCy's and Flair's converters take the file); for
  other inputs `word TAG` lines; a blank line ends each sentence;
- csv (classification): the record's source and text(s), its label (a multi-label run: the labels
  joined by `|`; regression: the score) and each label's probability (`score_LABEL` columns)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import IO, Any

from rawtune.errors import DataError

OUTPUT_FORMATS = ("jsonl", "conll", "csv")
Convert = Callable[[Iterator[dict[str, Any]], IO[str]], None]


def converter(fmt: str, input_path: str, input_format: str, key: str) -> Convert | None:
    """How to turn the records into `fmt` (None: JSON lines, written as they are). `key`: the
    records' file:line key (`source`)."""
    if fmt not in OUTPUT_FORMATS:
        raise DataError(f"unknown output format {fmt!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "conll":
        layout = input_format == "conll"
        return lambda records, out: write_conll(records, out, input_path if layout else None)
    if fmt == "csv":
        return lambda records, out: write_csv(records, out, key)
    return None


def write_conll(records: Iterator[dict[str, Any]], out: IO[str], conll_input: str | None) -> None:
    """NER records as CoNLL (see the module); `conll_input`: the CoNLL file they were predicted
    from, whose lines are written back with the tag added."""
    if conll_input is None:
        for rec in records:
            out.write("".join(f"{tok} {tag}\n" for tok, tag in zip(rec["tokens"], rec["tags"])) + "\n")
        return
    from rawtune.data.readers.conll import iter_conll_layout

    for kind, value, sep in iter_conll_layout(conll_input):
        if kind == "docstart":
            out.write(f"{value}\n\n")
            continue
        rec = next(records, None)
        if rec is None or len(rec["tags"]) != len(value):
            raise DataError(
                "the predictions do not line up with this CoNLL file's sentences (was it changed "
                "while predicting?)",
                file=conll_input,
                line=int(str(rec.get("source", ":0")).rsplit(":", 1)[1]) if rec else None,
            )
        out.write("".join(f"{(sep or ' ').join([*cols, tag])}\n" for cols, tag in zip(value, rec["tags"])))
        out.write("\n")


def write_csv(records: Iterator[dict[str, Any]], out: IO[str], key: str) -> None:
    """Classification records as a CSV table (see the module)."""
    writer = csv.writer(out, lineterminator="\n")
    header: list[str] | None = None
    for rec in records:
        row = _csv_row(rec, key)
        if header is None:
            header = list(row)
            writer.writerow(header)
        writer.writerow([row.get(col, "") for col in header])


def _csv_row(rec: dict[str, Any], key: str) -> dict[str, Any]:
    row: dict[str, Any] = {key: rec.get(key, ""), "text": rec.get("text", "")}
    if "text_b" in rec:
        row["text_b"] = rec["text_b"]
    if "labels" in rec:
        row["labels"] = "|".join(rec["labels"])
    elif "label" in rec:
        row["label"] = rec["label"]
    if "score" in rec:
        row["score"] = rec["score"]
    for label, p in (rec.get("scores") or {}).items():
        row[f"score_{label}"] = p
    return row
