"""Atomic, verified checkpoints: `RUN/checkpoints/step-N/` exists only when complete.

Write protocol: temp dir -> files fsynced -> `checksums.json` (sha256 of every file) -> rename.
A directory without `checksums.json`, a temp dir, or one whose hashes no longer match is never
resumed from; each skip is reported naming the file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rawtune.runs.atomic import atomic_dir, hash_tree, sha256_file, write_json
from rawtune.runs.faults import fault

CHECKSUMS = "checksums.json"
STATE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def save_checkpoint(
    root: Path, step: int, write_payload: Callable[[Path], None], state: dict[str, Any]
) -> Path:
    final = root / f"step-{step}"
    root.mkdir(parents=True, exist_ok=True)
    with atomic_dir(final) as tmp:
        write_payload(tmp)
        write_json(tmp / STATE, state)
        write_json(tmp / CHECKSUMS, {"step": step, "files": hash_tree(tmp, skip=(CHECKSUMS,))})
        fault("checkpoint.sealed", tmp / CHECKSUMS)
    return final


def verify_checkpoint(path: Path) -> str | None:
    """None when the checkpoint is complete and intact, else the reason (naming the file)."""
    manifest = path / CHECKSUMS
    if not manifest.is_file():
        return f"{manifest} is missing (checkpoint incomplete)"
    try:
        sealed = json.loads(manifest.read_bytes())
        files = sealed["files"]
        if not isinstance(files, dict) or not all(
            isinstance(m, dict) and isinstance(m.get("bytes"), int) and isinstance(m.get("sha256"), str)
            for m in files.values()
        ):
            raise ValueError('"files" is not {path: {"sha256", "bytes"}}')
    except (ValueError, KeyError, TypeError) as e:
        return f"{manifest} is unreadable ({e})"
    named = _STEP_DIR.match(path.name)
    if named and sealed.get("step") != int(named.group(1)):  # every byte of the seal is checked
        return f"{manifest} records step {sealed.get('step')!r}, not {named.group(1)} (corrupted)"
    for rel, meta in files.items():
        f = path / rel
        if not f.resolve().is_relative_to(path.resolve()):  # a crafted "../x" names no file of ours
            return f"{manifest} names a file outside the checkpoint: {rel}"
        if not f.is_file():
            return f"{f} is missing"
        if f.stat().st_size != meta["bytes"] or sha256_file(f) != meta["sha256"]:
            return f"{f} does not match its sha256 in {CHECKSUMS} (corrupted)"
    if not (path / STATE).is_file() or STATE not in files:
        return f"{path / STATE} is missing"
    return None


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def latest_verified(root: Path, warn: Callable[[str], None]) -> Path | None:
    """Newest checkpoint that verifies; torn or corrupted ones are skipped with a warning."""
    for _step, path in reversed(list_checkpoints(root)):
        problem = verify_checkpoint(path)
        if problem is None:
            return path
        warn(f"skipping checkpoint {path.name}: {problem}")
    return None


def read_state(path: Path) -> dict[str, Any]:
    return json.loads((path / STATE).read_text())


def prune_checkpoints(root: Path, keep_last: int, keep_steps: set[int]) -> None:
    """Delete all but the newest `keep_last` checkpoints and those in `keep_steps` (the best);
    leftover temp dirs from killed runs are removed too."""
    ckpts = list_checkpoints(root)
    for step, path in ckpts[:-keep_last] if keep_last else ckpts:
        if step not in keep_steps:
            shutil.rmtree(path, ignore_errors=True)
    for tmp in root.glob(".tmp-step-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def release_checkpoints(root: Path, keep: int, best_step: int | None = None) -> tuple[int, int]:
    """A finished run's checkpoints, but the newest `keep` and the one at `best_step` (the best
    evaluation, when the final model is not it), deleted; leftover temp dirs too.
    Returns (checkpoints kept, bytes freed)."""
    ckpts = list_checkpoints(root)
    gone = [p for step, p in (ckpts[:-keep] if keep else ckpts) if step != best_step]
    gone += list(root.glob(".tmp-step-*")) if root.is_dir() else []
    freed = sum(f.stat().st_size for p in gone for f in p.rglob("*") if f.is_file())
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return len(list_checkpoints(root)), freed
