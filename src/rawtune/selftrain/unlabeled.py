"""The raw text a teacher labels. Documents come from `pretrain`'s corpus readers
(`data.readers.text.iter_documents`: .txt .jsonl .csv .parquet, .gz, directories, globs, hf:; errors
name file and line; `bad_lines: skip` drops and counts bad lines), are normalised, cut into units
(sentences by `split_sentences` for NER, whole texts for classification) and kept when their word
count (words as `predict` splits raw text: `split_words`) is in range, they were not seen before, and
they are not in the labeled data (training on the dev set's sentences, however labeled, would bias
the choice of the best round). Reading stops at `max_unlabeled` units."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from rawtune.config.schema import DataConfig
from rawtune.data.corpus import normalize
from rawtune.data.readers.text import iter_documents
from rawtune.data.words import split_sentences, split_words
from rawtune.errors import DataError

_BAD_LINES_KEPT = 5


@dataclass(frozen=True)
class Unit:
    """A sentence or text to label, and where it starts (file:line)."""

    text: str
    source: str


@dataclass
class UnlabeledCounts:
    documents: int = 0  # not blank
    units: int = 0  # sentences (ner) or texts (classification) found
    too_short: int = 0
    too_long: int = 0
    repeated: int = 0
    in_labeled_data: int = 0  # also a sentence or text of data.train/dev/test
    kept: int = 0
    capped: bool = False  # reading stopped at max_unlabeled
    skipped_bad_lines: int = 0
    first_bad_lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def words_key(text: str) -> str:
    """A unit's identity: its words, as `predict` splits them, joined by spaces."""
    return " ".join(w for w, _, _ in split_words(text))


def labeled_keys(splits: dict[str, Any]) -> set[str]:
    """The identity of every example of the labeled splits (token lists or texts)."""
    keys = set()
    for data in splits.values():
        for ex in data.examples:
            keys.add(" ".join(ex.tokens) if hasattr(ex, "tokens") else words_key(ex.text))
    return keys


def read_config(cfg: Any, task: str, splits: dict[str, Any]) -> tuple[list[Unit], UnlabeledCounts]:
    """The units of a selftrain config's raw text: sentences for NER (raw_text.split auto), whole
    texts for classification; the labeled `splits` left out."""
    split = cfg.raw_text.split
    sentences = split == "sentences" or (split == "auto" and task == "ner")
    specs = [str(p) for p in cfg.unlabeled]
    limit = cfg.max_unlabeled
    return read_units(specs, cfg.raw_text, sentences=sentences, limit=limit, exclude=labeled_keys(splits))


def _reader(specs: list[str], raw: Any) -> DataConfig:
    return DataConfig(
        corpus=specs,
        text_field=raw.text_field,
        document=raw.document,
        bad_lines=raw.bad_lines,
        hf_split=raw.hf_split,
    )


def read_units(
    specs: list[str], raw: Any, *, sentences: bool, limit: int, exclude: Iterable[str] = ()
) -> tuple[list[Unit], UnlabeledCounts]:
    """Up to `limit` distinct units of the raw text `specs` (see the module), and what was dropped;
    a DataError naming the files and the counts when none is left."""
    counts = UnlabeledCounts()

    def on_bad(err: DataError) -> None:
        counts.skipped_bad_lines += 1
        if len(counts.first_bad_lines) < _BAD_LINES_KEPT:
            counts.first_bad_lines.append(str(err))

    seen, excluded, units = set(), set(exclude), []
    for doc in iter_documents(specs, _reader(specs, raw), on_bad):
        text = normalize(doc.text, raw.normalize)
        if not text:  # a blank line
            continue
        counts.documents += 1
        spans = split_sentences(text) if sentences else [(0, len(text))]
        for start, end in spans:
            counts.units += 1
            key = words_key(text[start:end])
            n = key.count(" ") + 1 if key else 0
            if n < raw.min_words:
                counts.too_short += 1
            elif n > raw.max_words:
                counts.too_long += 1
            elif key in seen:
                counts.repeated += 1
            elif key in excluded:
                counts.in_labeled_data += 1
            else:
                seen.add(key)
                units.append(Unit(text[start:end], f"{doc.source}:{doc.line}"))
                if len(units) == limit:
                    counts.kept, counts.capped = limit, True
                    return units, counts
    counts.kept = len(units)
    if not units:
        raise DataError(_empty(counts, sentences), file=", ".join(specs))
    return units, counts


def _empty(c: UnlabeledCounts, sentences: bool) -> str:
    what = "sentences" if sentences else "texts"
    if not c.documents:
        bad = f" ({c.skipped_bad_lines} bad lines skipped)" if c.skipped_bad_lines else ""
        return f"no unlabeled text: no documents{bad}"
    return (
        f"no unlabeled text left after filtering: {c.documents} documents, {c.units} {what}: "
        f"{c.too_short} under raw_text.min_words, {c.too_long} over raw_text.max_words, "
        f"{c.repeated} repeated, {c.in_labeled_data} in the labeled data"
    )
