"""A JSON-lines output that survives being killed: records go to `OUT.partial`, each chunk written,
flushed and fsynced before the next is computed, and the file is renamed to OUT only when complete.

`resume=True` continues an interrupted `OUT.partial`: a torn last line (the process died inside a
write) is cut off, the complete records are counted, and the caller skips that many inputs. Without
`resume` an existing `OUT.partial` is refused, so two runs never silently mix. One writer at a time:
the partial file is locked (where the OS has `fcntl`). `skip_done` and `chunks` are the reading side
of a resume: the inputs already written are skipped (checked by their file:line), and the rest come
in chunks aligned as the first run's were, so a resumed output equals an uninterrupted one."""

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

    def commit(self) -> None:
        """The output is complete: OUT.partial becomes OUT (atomically; an older OUT is replaced)."""
        from rawtune.runs.atomic import fsync_dir

        self._open()
        self.close()
        os.replace(self.path, self.output)
        fsync_dir(self.output.parent)

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
