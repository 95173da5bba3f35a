"""A JSON-lines output that survives being killed: records go to `OUT.partial`, each chunk written,
flushed and fsynced before the next is computed, and the file is renamed to OUT only when complete.

`resume=True` continues an interrupted `OUT.partial`: a torn last line (the process died inside a
write) is cut off, the complete records are counted, and the caller skips that many inputs. Without
`resume` an existing `OUT.partial` is refused, so two runs never silently mix. One writer at a time:
the partial file is locked (where the OS has `fcntl`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from rawtune.errors import DataError, RunDirError


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
