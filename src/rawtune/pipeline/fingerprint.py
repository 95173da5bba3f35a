"""A stage's fingerprint: its kind, its resolved config (every default expanded), the content of every
local file or directory that config names, the fingerprints of the stages it reads from (which stand
in for their run directories), and the rawtune version. Equal fingerprints mean the stage would
compute the same thing again, so a completed run with that fingerprint is reused."""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path
from typing import Any

from rawtune._version import __version__
from rawtune.runs.atomic import sha256_file

# keys that do not change what a stage computes (as for --resume), and where it writes
FREE = ("rawtune_version", "output", "train.progress", "train.threads")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flatten(v, key + ".") if isinstance(v, dict) and v else {key: v})
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def hash_file(path: Path, cache: dict[str, str]) -> str:
    """sha256 of a file, remembered by (absolute path, size, mtime in ns) as make and git do, so that
    planning a pipeline over a corpus of gigabytes reads it once, not at every `rawtune run`."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in cache:
        cache[key] = sha256_file(path)
    return cache[key]


def _hash_dir(path: Path, cache: dict[str, str]) -> str:
    manifest = path / "manifest.json"
    h = hashlib.sha256()
    if manifest.is_file():  # a rawtune run: its manifest lists every kept file with its sha256
        data = json.loads(manifest.read_text())
        h.update(json.dumps([data.get("status"), data.get("files")], sort_keys=True).encode())
        return h.hexdigest()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0" + hash_file(f, cache).encode())
    return h.hexdigest()


def input_files(flat: dict[str, Any], cache: dict[str, str] | None = None) -> dict[str, str]:
    """{path: sha256} of each existing local file, directory or glob match named by a config value.
    Symbolic references to other stages (`@stage:...`) and hub ids are not files and are left out.
    `cache` (see `hash_file`) is read and extended."""
    cache = {} if cache is None else cache
    found: dict[str, str] = {}
    for key in sorted(flat):
        for s in _strings(flat[key]):
            if s.startswith("@") or not s or "\n" in s:
                continue
            paths = sorted(glob.glob(s, recursive=True)) if any(c in s for c in "*?[") else [s]
            for p in paths:
                path = Path(p)
                if path.is_file():
                    found[p] = hash_file(path, cache)
                elif path.is_dir():
                    found[p] = _hash_dir(path, cache)
    return found


def fingerprint(kind: str, config: dict[str, Any], files: dict[str, str]) -> str:
    record = {"kind": kind, "config": config, "files": files, "rawtune": __version__}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe_changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Why a stage must run again: the config keys, input files and upstream stages that changed."""
    reasons: list[str] = []
    if before.get("rawtune") != now.get("rawtune"):
        reasons.append(f"rawtune {before.get('rawtune')} -> {now.get('rawtune')}")
    old, new = before.get("config", {}), now.get("config", {})
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        ups = {s.split(":")[0][1:] for s in _strings(a) + _strings(b) if s.startswith("@")}
        if ups and (
            {s for s in _strings(a) if not s.startswith("@")}
            == {s for s in _strings(b) if not s.startswith("@")}
        ):
            reasons += [
                f"upstream '{u}' changed" for u in sorted(ups) if f"upstream '{u}' changed" not in reasons
            ]
        else:
            reasons.append(f"{key}: {a!r} -> {b!r}")
    old_files, new_files = before.get("files", {}), now.get("files", {})
    for path in sorted(set(old_files) | set(new_files)):
        if old_files.get(path) != new_files.get(path):
            reasons.append(
                f"input {path} {'changed' if path in old_files and path in new_files else 'added' if path in new_files else 'removed'}"
            )
    return reasons
