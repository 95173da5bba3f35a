"""Raw-text documents from files, directories, globs and `hf:` datasets, with file:line provenance;
and the lines of a plain-text file of inputs (`text_lines`).

Formats: .txt (a document per line or per blank-line-separated paragraph), .jsonl, .csv, .parquet,
and gzip of the first three (`x.txt.gz`). Text files are read line by line (never whole), each
line decoded strictly so invalid UTF-8 is reported with its file, line, byte offset and column.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from rawtune.config.schema import DataConfig
from rawtune.errors import DataError

FORMATS = (".txt", ".jsonl", ".csv", ".parquet")
GZ_FORMATS = (".txt", ".jsonl", ".csv")
HF_PREFIX = "hf:"
_CSV_FIELD_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Document:
    text: str
    source: str  # file path or "hf:NAME"
    line: int  # 1-based line where the document starts (row number for parquet/hf)


def file_format(path: str) -> str | None:
    """'.txt', '.jsonl', '.csv', '.parquet' (a '.gz' suffix is looked through), or None."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
        return next((f for f in GZ_FORMATS if name.endswith(f)), None)
    return next((f for f in FORMATS if name.endswith(f)), None)


def _supported_names() -> str:
    return ", ".join([*FORMATS, *(f + ".gz" for f in GZ_FORMATS)])


def _expand_dir(spec: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(spec):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in files if not f.startswith(".") and file_format(f)]
    if not found:
        raise DataError(f"directory has no supported files ({_supported_names()})", file=spec)
    return sorted(found)


def _expand_one(spec: str) -> list[str]:
    if spec.startswith(HF_PREFIX):
        return [spec]
    if os.path.isdir(spec):
        return _expand_dir(spec)
    if os.path.isfile(spec):
        if not file_format(spec):
            raise DataError(f"unsupported file type (supported: {_supported_names()})", file=spec)
        return [spec]
    if glob.has_magic(spec):
        out: list[str] = []
        for match in sorted(glob.glob(spec, recursive=True)):
            if os.path.isdir(match):
                out += _expand_dir(match)
            elif file_format(match):
                out.append(match)
        if not out:
            raise DataError(f"glob matches no supported files ({_supported_names()})", file=spec)
        return out
    raise DataError("no such file or directory", file=spec)


def resolve_sources(specs: list[str]) -> list[str]:
    """Expand directories (recursively) and globs, sorted; keep `hf:` specs; drop repeated paths."""
    seen: set[str] = set()
    out = []
    for spec in specs:
        for path in _expand_one(spec):
            key = path if path.startswith(HF_PREFIX) else os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                out.append(path)
    return out


def open_binary(path: str) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb"))


OnBadLine = Callable[[DataError], None]


def decoded_lines(
    path: str, keep_ends: bool = False, on_bad: OnBadLine | None = None
) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line) with strict UTF-8; a leading BOM is dropped. A NUL byte
    is an error too: text never holds one, a binary or UTF-16 file does. With `on_bad`, such a line
    is handed to it as the error it would have raised and skipped (`data.bad_lines: skip`)."""
    offset = 0
    try:
        opened = open_binary(path)
    except IsADirectoryError:
        raise DataError("is a directory, not a file", file=path) from None
    except FileNotFoundError:
        raise DataError("no such file", file=path) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", file=path) from None
    with opened as f:
        try:
            for n, raw in enumerate(f, start=1):
                bad = None
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    column = len(raw[: e.start].decode("utf-8", errors="replace")) + 1
                    bad = DataError(
                        f"invalid UTF-8 at byte {offset + e.start} (column {column})", file=path, line=n
                    )
                else:
                    if "\0" in text:
                        column = text.index("\0") + 1
                        bad = DataError(
                            f"NUL byte at column {column}: a binary or UTF-16 file, not UTF-8 text",
                            file=path,
                            line=n,
                        )
                offset += len(raw)
                if bad is not None:
                    if on_bad is None:
                        raise bad
                    on_bad(bad)
                    continue
                if n == 1:
                    text = text.removeprefix("\ufeff")
                yield n, text if keep_ends else text.rstrip("\r\n")
        except (OSError, EOFError) as e:  # e.g. a truncated or corrupt .gz
            raise DataError(f"cannot read: {e}", file=path) from None


def _read_txt(path: str, cfg: DataConfig, on_bad: OnBadLine | None = None) -> Iterator[Document]:
    if cfg.document == "line":
        for n, text in decoded_lines(path, on_bad=on_bad):
            yield Document(text, path, n)
        return
    start, lines = 0, []
    for n, text in decoded_lines(path, on_bad=on_bad):
        if text.strip():
            start = start or n
            lines.append(text.strip())
        elif lines:
            yield Document(" ".join(lines), path, start)
            start, lines = 0, []
    if lines:
        yield Document(" ".join(lines), path, start)


def text_lines(path: str) -> Iterator[Document]:
    """One text per non-blank line of a plain-text file, with its file and 1-based line: inputs to
    predict on or to label (`rawtune predict`, the relation pipeline, pseudo-label replay, raw text
    for distillation). Decoded as every .txt here is: strict UTF-8 (an error names file and line),
    a leading BOM and the line ends dropped, the rest of the line kept as it is."""
    for n, text in decoded_lines(path):
        if text.strip():
            yield Document(text, path, n)


def _field_text(value: Any, present: bool, keys: list[str], field: str, path: str, line: int) -> str:
    if not present:
        raise DataError(
            f"missing field (has: {', '.join(keys) or 'nothing'})", file=path, line=line, field=field
        )
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise DataError(f"expected a string, got {kind}", file=path, line=line, field=field)
    return value


def json_objects(path: str, on_bad: OnBadLine | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file; a line that is not a JSON
    object is an error naming the file and line (every JSONL reader goes through here), or, with
    `on_bad`, handed to it and skipped (a crawler killed mid-write leaves a cut last line)."""
    for n, text in decoded_lines(path, on_bad=on_bad):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            bad = DataError(f"invalid JSON: {e.msg} (column {e.colno})", file=path, line=n)
        else:
            if isinstance(obj, dict):
                yield n, obj
                continue
            bad = DataError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=n)
        if on_bad is None:
            raise bad
        on_bad(bad)


def _read_jsonl(path: str, cfg: DataConfig, on_bad: OnBadLine | None = None) -> Iterator[Document]:
    field = cfg.text_field
    for n, obj in json_objects(path, on_bad):
        yield Document(_field_text(obj.get(field), field in obj, list(obj), field, path, n), path, n)


def _read_csv(path: str, cfg: DataConfig) -> Iterator[Document]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    lines = (text for _, text in decoded_lines(path, keep_ends=True))
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None:
            return
        if cfg.text_field not in header:
            raise DataError(
                f"no column '{cfg.text_field}' in the header (columns: {', '.join(header)})",
                file=path,
                line=1,
            )
        col = header.index(cfg.text_field)
        start = reader.line_num + 1
        for row in reader:
            if row:
                if col >= len(row):
                    raise DataError(
                        f"row has {len(row)} fields, the header has {len(header)}",
                        file=path,
                        line=start,
                        field=cfg.text_field,
                    )
                yield Document(row[col], path, start)
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(f"invalid CSV: {e}", file=path, line=reader.line_num) from None


def _read_parquet(path: str, cfg: DataConfig) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"cannot read parquet: {e}", file=path) from None
    names = pf.schema_arrow.names
    if cfg.text_field not in names:
        raise DataError(f"no column '{cfg.text_field}' (columns: {', '.join(names)})", file=path)
    row = 0
    for batch in pf.iter_batches(columns=[cfg.text_field], batch_size=4096):
        for value in batch.column(0).to_pylist():
            row += 1
            yield Document(_field_text(value, True, names, cfg.text_field, path, row), path, row)


def _parse_hf(spec: str) -> tuple[str, str | None]:
    name, _, config = spec[len(HF_PREFIX) :].partition(":")
    return name, config or None


def _read_hf(spec: str, cfg: DataConfig) -> Iterator[Document]:
    name, config = _parse_hf(spec)
    offline = os.environ.get("HF_HUB_OFFLINE", "unset")
    try:
        import datasets

        rows = iter(datasets.load_dataset(name, config, split=cfg.hf_split, streaming=True))
        row = 0
        while True:
            try:
                item = next(rows)
            except StopIteration:
                return
            row += 1
            keys = list(item)
            yield Document(
                _field_text(
                    item.get(cfg.text_field), cfg.text_field in item, keys, cfg.text_field, spec, row
                ),
                spec,
                row,
            )
    except DataError:
        raise
    except Exception as e:  # datasets raises many types (ConnectionError, FileNotFoundError, ValueError...)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"could not load hf dataset {name}: {reason} (offline? HF_HUB_OFFLINE={offline})"
        ) from None


_READERS = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv, ".parquet": _read_parquet}


_SKIPS_BAD_LINES = (".txt", ".jsonl")  # one record per line; a CSV record may span lines


def iter_documents(specs: list[str], cfg: DataConfig, on_bad: OnBadLine | None = None) -> Iterator[Document]:
    """Every document of every source, in order, as raw text (normalisation is the corpus' job).
    With `data.bad_lines: skip`, a .txt/.jsonl line that is not UTF-8 text (or, in .jsonl, not a
    JSON object) is dropped and passed to `on_bad`; otherwise it stops the read, naming file and line."""
    skip = (on_bad or (lambda _: None)) if cfg.bad_lines == "skip" else None
    for source in resolve_sources(specs):
        if source.startswith(HF_PREFIX):
            yield from _read_hf(source, cfg)
            continue
        fmt = file_format(source) or ""
        if fmt in _SKIPS_BAD_LINES:
            yield from _READERS[fmt](source, cfg, skip)
        else:
            yield from _READERS[fmt](source, cfg)


def sources_fingerprint(specs: list[str], cfg: DataConfig) -> str:
    """sha256 over each source's format and content hash, in order (paths themselves do not count,
    so a moved corpus keeps its fingerprint). `hf:` sources count by name and split only."""
    h = hashlib.sha256()
    for source in resolve_sources(specs):
        if source.startswith(HF_PREFIX):
            h.update(f"{source}|split={cfg.hf_split}\n".encode())
            continue
        content = hashlib.sha256()
        with open(source, "rb") as f:
            while block := f.read(1 << 20):
                content.update(block)
        h.update(f"{file_format(source)}{'.gz' if source.lower().endswith('.gz') else ''}|".encode())
        h.update(f"{content.hexdigest()}\n".encode())
    return h.hexdigest()
