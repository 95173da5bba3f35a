"""Fault injection, a test hook: a no-op unless the environment variable RAWTUNE_FAULT is set.

The reliability suite (tests/reliability/) kills real training processes at exact points of a run
to check that `--resume` is bit-exact and that no torn file is ever trusted. A point is a name the
code passes through (`fault("checkpoint.payload", path)`); the variable arms one of them:

    RAWTUNE_FAULT="POINT[#N][=ACTION]"     e.g. "step#7=kill", "checkpoint.payload#2=torn"

At the N-th time (default 1) this process reaches POINT, ACTION happens: `kill` (SIGKILL, the
default), `term` (SIGTERM), `int` (SIGINT, as Ctrl-C), `torn` (the file the point names is cut to
half its size, then SIGKILL: a kill in the middle of writing it) or `enospc` (an OSError "No space
left on device" raised at that point). The points:

    step                 the end of optimizer step N (after its log line, evaluation, checkpoint)
    eval                 during the N-th evaluation of a run (computed, not yet logged)
    metrics.write        in the middle of writing the N-th line of metrics.jsonl (half of it written)
    checkpoint.payload   in a checkpoint's temp dir, model.safetensors written, optimizer state not yet
    checkpoint.sealed    the temp dir complete with its checksums.json, not yet renamed into place
    checkpoint.renamed   the checkpoint renamed into place, older ones not yet pruned
    run.finish           the final model written, metrics.json and the "complete" manifest not yet
    selftrain.round      the start of self-training round N (N >= 1: the rounds before it are done)
    selftrain.labels     a round's pseudo-labels file written, its statistics (what makes it trusted) not yet

Nothing in a normal run reads the variable more than once per point reached; with it unset each
point is one dictionary lookup.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

ENV = "RAWTUNE_FAULT"
_hits: dict[str, int] = {}


def _parse(spec: str) -> tuple[str, int, str]:
    point, _, action = spec.partition("=")
    point, _, n = point.partition("#")
    return point.strip(), int(n or 1), (action.strip() or "kill")


def armed(point: str) -> bool:
    """Count one pass through `point`; True when it is the armed one (then `act` it). For the one
    caller that must prepare the fault itself: a metrics line cut in half."""
    spec = os.environ.get(ENV)
    if not spec:
        return False
    name, n, _ = _parse(spec)
    if name != point:
        return False
    _hits[point] = _hits.get(point, 0) + 1
    return _hits[point] == n


def fault(point: str, path: str | Path | None = None) -> None:
    """Pass through `point`: the armed action happens when this is its N-th pass."""
    if armed(point):
        act(path)


def act(path: str | Path | None = None) -> None:
    spec = os.environ[ENV]
    action = _parse(spec)[2]
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) if path else None)
    if action == "torn" and path is not None:
        p = Path(path)
        with open(p, "r+b") as f:
            f.truncate(p.stat().st_size // 2)
            f.flush()
            os.fsync(f.fileno())
    sig = {"kill": signal.SIGKILL, "torn": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}
    if action not in sig:
        raise ValueError(f"{ENV}={spec!r}: unknown action {action!r}")
    os.kill(os.getpid(), sig[action])  # SIGINT: Python raises KeyboardInterrupt right after this
