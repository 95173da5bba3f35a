"""Crash-safe file primitives: write to a temp name, fsync, rename. A reader never sees half a file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rawtune.errors import StorageError


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # a full disk: leave no half-written temp file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.replace(tmp, path)
    fsync_dir(path.parent)


def json_text(obj: Any) -> str:
    """The one way rawtune writes JSON files (so a reader can tell whether a file is still byte for
    byte what was written: `json_text(json.loads(raw)) == raw`)."""
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json_text(obj))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fsync_tree(root: Path) -> None:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            with open(p, "rb+") as f:
                os.fsync(f.fileno())
    for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        fsync_dir(d)


def hash_tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """{relative path: {"sha256", "bytes"}} for every file under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in skip:
            out[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    return out


# errno values that mean "the disk", not a bug: full, over quota, read-only, failing, file too large
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}
_LOW_SPACE = 16 << 20  # bytes free under which a failed write is put down to a full disk


def storage_error(e: BaseException, path: Path) -> StorageError | None:
    """The StorageError a failed write of `path` amounts to, or None when it is not the disk's fault.
    torch.save and safetensors do not raise OSError on a full disk (a RuntimeError "unexpected pos",
    a SafetensorError "os error 28"), so a failed write on a filesystem that is (nearly) full counts
    too."""
    if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
        return StorageError(f"cannot write {e.filename or path}: {e.strerror}")
    if not isinstance(e, (OSError, RuntimeError)) and type(e).__name__ != "SafetensorError":
        return None
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return None
    if "os error 28" in str(e) or free < _LOW_SPACE:
        return StorageError(f"cannot write {path}: no space left on device ({free:,} bytes free; {e})")
    return None


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temp dir beside `final`; on success fsync it and rename it into place. A write that
    fails for lack of room (or a read-only or failing disk) is a StorageError naming `final`."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if (full := storage_error(e, final)) is not None:
            raise full from e
        raise
