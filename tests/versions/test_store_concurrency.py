"""Several processes writing one model store at once: version numbers are allocated inside the write
transaction, so they land distinct and gap-free, and promotions keep one production version."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rawtune.errors import ModelStoreError
from rawtune.versions import ModelStore, schema

WRITERS, EACH = 4, 20

# each writer waits for the start file, so all of them open the (not yet existing) registry and
# write at the same moment; every fifth version it registers is promoted (forced past its gate)
WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from rawtune.versions import ModelStore

    registry, runs, start, me, each = sys.argv[1:6]
    while not os.path.exists(start):
        time.sleep(0.005)
    with ModelStore(registry) as reg:
        for i in range(int(each)):
            v = reg.register("shared", Path(runs) / f"w{me}-{i}", gate={"passed": i % 2 == 0})
            if i % 5 == 4:
                reg.promote("shared", v.version, force=True)
    """
)


def test_concurrent_writers_get_distinct_gap_free_versions(tmp_path: Path):
    registry, runs, start = tmp_path / "sub" / "registry.db", tmp_path / "runs", tmp_path / "go"
    for w in range(WRITERS):
        for i in range(EACH):
            (runs / f"w{w}-{i}").mkdir(parents=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(registry), str(runs), str(start), str(w), str(EACH)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    time.sleep(0.5)  # let every interpreter start and wait
    start.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    with ModelStore(registry) as reg:
        versions = reg.list("shared")
        assert [v.version for v in versions] == list(range(1, WRITERS * EACH + 1))
        assert sorted(Path(v.run).name for v in versions) == sorted(
            f"w{w}-{i}" for w in range(WRITERS) for i in range(EACH)
        )
        for w in range(WRITERS):  # each writer's versions are in its own order
            mine = [v.version for v in versions if Path(v.run).name.startswith(f"w{w}-")]
            assert mine == sorted(mine)
        assert [v.status for v in versions].count("production") == 1
        events = reg.history("shared")
        assert sum(e.action == "register" for e in events) == WRITERS * EACH
        promotes = [e for e in events if e.action == "promote"]
        assert len(promotes) == WRITERS * EACH // 5
        assert reg.production("shared").version == promotes[-1].version
        # each promotion replaced the one before it, in commit order
        assert [e.detail["previous"] for e in promotes[1:]] == [e.version for e in promotes[:-1]]


class _LockedAtFirst:
    """A connection whose WAL switch meets another process's lock `times` times (SQLite reports that
    at once, without its busy handler), then goes through."""

    def __init__(self, db, times: int):
        object.__setattr__(self, "_db", db)
        object.__setattr__(self, "left", times)

    def execute(self, sql, *args):
        if "journal_mode" in sql and self.left:
            object.__setattr__(self, "left", self.left - 1)
            raise sqlite3.OperationalError("database is locked")
        return self._db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)

    def __setattr__(self, name, value):
        setattr(self._db, name, value)


def test_a_locked_wal_switch_is_retried_not_reported(tmp_path: Path, monkeypatch):
    real = sqlite3.connect
    fakes = []

    def connect(*args, **kwargs):
        fakes.append(_LockedAtFirst(real(*args, **kwargs), times=3))
        return fakes[-1]

    monkeypatch.setattr(schema.sqlite3, "connect", connect)
    with ModelStore(tmp_path / "registry.db") as reg:
        assert reg.names() == []
    assert fakes[0].left == 0
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_S", 0.05)  # a lock that never goes: the error, named
    fakes.clear()
    monkeypatch.setattr(schema.sqlite3, "connect", lambda *a, **k: _LockedAtFirst(real(*a, **k), 10**9))
    with pytest.raises(ModelStoreError, match=r"registry\.db is not a usable model registry.*locked"):
        ModelStore(tmp_path / "registry.db")
