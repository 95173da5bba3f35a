"""A JSON-lines output that survives being killed: records go to `OUT.partial`, each chunk written,
flushed and fsynced before the next is computed, and the file is renamed to OUT only when complete.

`resume=True` continues an interrupted `OUT.partial`: a torn last line (the process died inside a
write) is cut off, the complete records are counted, and the caller skips that many inputs. Without
`resume` an existing `OUT.partial` is refused, so two runs never silently mix. One writer at a time:
the partial file is locked (where the OS has `fcntl`). The reading side of a resume:
`document_chunks` cuts the inputs into the chunks the first run cut them into (never inside a
document), `check_record` checks the records kept came from this input (by file:line), and the
caller predicts again only the chunk the interruption fell in, keeping its records after those
written, so a resumed output equals an uninterrupted one byte for byte. (`skip_done` and `chunks`:
the same for inputs without documents, skipping the written ones and completing the chunk the
interrupted run was in.) `commit(convert)` writes the finished records in another format."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from rawtune.errors import DataError, RunDirError

T = TypeVar("T")


class PartialJsonl:
    def __init__(self, output: str | os.PathLike, *, resume: bool):
        self.output = Path(output)
        self.path = Path(f"{output}.partial")
        if not self.output.parent.is_dir():
            raise RunDirError(f"{self.output}: its directory does not exist")
        if self.output.is_dir():
            raise RunDirError(f"{self.output} is a directory; --output names the file to write")
        self._file: IO[bytes] | None = None
        self.count, self.torn_bytes, self._good = 0, 0, 0
        self.first: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        if self.path.exists():
            if not resume:
                raise RunDirError(
                    f"{self.path} is left from an interrupted run: pass --resume to continue it "
                    "(resume=True), or delete it to start over"
                )
            self._scan()

    @property
    def resumed(self) -> bool:
        return self.count > 0

    def _scan(self) -> None:
        """Count complete records; a last line that is unterminated or not JSON is torn and cut off
        (on the first write); any earlier bad line is refused."""
        good = 0
        with open(self.path, "rb") as f:
            lines = iter(f)
            line = next(lines, None)
            n = 0
            while line is not None:
                n += 1
                following = next(lines, None)
                rec = _record(line) if line.endswith(b"\n") else None
                if rec is None:
                    if following is not None:
                        raise DataError(
                            "not a complete JSON record in the middle of the file (only the last line "
                            "can be torn by an interrupted write); delete the file to start over",
                            file=str(self.path),
                            line=n,
                        )
                    self.torn_bytes = len(line)
                    break
                self.first = self.first or rec
                self.last = rec
                good += len(line)
                self.count += 1
                line = following
        self._good = good

    def write(self, lines: list[str]) -> None:
        """Append records (one JSON text each) and make them durable before returning."""
        f = self._open()
        f.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())

    def commit(self, convert: Callable[[Iterator[dict[str, Any]], IO[str]], None] | None = None) -> None:
        """The output is complete: OUT.partial becomes OUT (atomically; an older OUT is replaced).
        With `convert`, OUT is what it writes of the records (another format), written beside OUT,
        fsynced and renamed into place before OUT.partial is removed."""
        from rawtune.runs.atomic import fsync_dir

        self._open()
        self.close()
        if convert is None:
            os.replace(self.path, self.output)
        else:
            tmp = self.output.with_name(f".{self.output.name}.tmp")
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                convert(self.records(), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.output)
            os.remove(self.path)
        fsync_dir(self.output.parent)

    def records(self) -> Iterator[dict[str, Any]]:
        """The records written so far, in order."""
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            # kept open across chunks (closed by close/commit/__exit__)
            f = open(self.path, "r+b" if self.path.exists() else "wb")  # noqa: SIM115
            try:
                _lock(f, self.path)
                if self.count or self.torn_bytes:
                    f.truncate(self._good)  # drop the torn line
                    f.seek(self._good)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                f.close()
                raise
            self._file = f
        return self._file

    def __enter__(self) -> PartialJsonl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def skip_done(items: Iterator[T], out: PartialJsonl, where: Callable[[T], str], key: str = "source") -> None:
    """Consume the inputs `out` already holds records for, checking that its first and last records
    came from the same inputs (file name and line: `where(item)`, `record[key]`)."""
    for i in range(out.count):
        item = next(items, None)
        if item is None:
            raise DataError(
                f"{out.path} holds {out.count} records but the input has only {i}: it is not this "
                "input's output; delete it to start over"
            )
        for k, rec in ((0, out.first), (out.count - 1, out.last)):
            if i == k and not _same_source(rec.get(key), where(item)):
                raise DataError(
                    f"{out.path} does not continue this input: its record {k + 1} is from "
                    f"{rec.get(key)!r}, input {k + 1} is {where(item)}; delete it to start over"
                )


def check_record(out: PartialJsonl, index: int, where: str, key: str = "source") -> None:
    """Refuse `out` when the record it holds at `index` (its first or last: the ones kept in
    view) did not come from the input at `where` (file:line), i.e. it is another input's output."""
    for k, rec in ((0, out.first), (out.count - 1, out.last)):
        if index == k and rec is not None and not _same_source(rec.get(key), where):
            raise DataError(
                f"{out.path} does not continue this input: its record {k + 1} is from "
                f"{rec.get(key)!r}, input {k + 1} is {where}; delete it to start over"
            )


def document_chunks(
    items: Iterator[T], size: int, document: Callable[[T], Any] | None = None
) -> Iterator[list[T]]:
    """`size` items at a time, a chunk extended until its last item's document ends (`document`:
    an item's document, None for an item alone), so a document is never split across chunks: its
    sentences are predicted together, as evaluation reads them."""
    chunk: list[T] = []
    for item in items:
        if len(chunk) >= size:
            last = document(chunk[-1]) if document is not None else None
            if last is None or document(item) != last:  # type: ignore[misc]
                yield chunk
                chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def _same_source(a: Any, b: str) -> bool:
    """Same line of a file of the same name (the path may be spelled differently on resume)."""
    if not isinstance(a, str) or ":" not in a:
        return False
    (fa, la), (fb, lb) = a.rsplit(":", 1), b.rsplit(":", 1)
    return la == lb and os.path.basename(fa) == os.path.basename(fb)


def chunks(items: Iterator[T], size: int, *, first: int) -> Iterator[list[T]]:
    """`first` items, then `size` at a time (after a resume, `first` completes the chunk the
    interrupted run was in)."""
    from rawtune.tasks.features import chunked

    head = list(itertools.islice(items, first))
    if head:
        yield head
    if len(head) == first:
        yield from chunked(items, size)


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _lock(f: IO[bytes], path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise RunDirError(f"{path} is being written by another process") from None
