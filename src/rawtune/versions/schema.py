"""Opening the model store's SQLite file (the CLI's registry file): where it lives, the connection settings that make several
processes safe writers, and the schema with its migrations.

Why these settings: WAL lets readers (a server resolving `models:/NAME`) run while a writer commits;
`busy_timeout` makes a second writer wait for the lock instead of failing at once; every write opens
with `BEGIN IMMEDIATE` (see store.py) so two writers never both read max(version) and collide. WAL
needs a local file system (not NFS), as SQLite documents.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

from rawtune.errors import ModelStoreError

BUSY_TIMEOUT_S = 30.0
SCHEMA_VERSION = 1

# MIGRATIONS[n] takes a store from schema n-1 to n (0 = an empty file); they run in one
# transaction, so a store is never left half-migrated. Later schemas append here.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE versions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            run TEXT NOT NULL,
            parent INTEGER,
            status TEXT NOT NULL CHECK (status IN ('candidate', 'production', 'archived')),
            task TEXT,
            created TEXT NOT NULL,
            metrics TEXT NOT NULL,
            data TEXT NOT NULL,
            gate TEXT,
            note TEXT,
            PRIMARY KEY (name, version),
            FOREIGN KEY (name, parent) REFERENCES versions (name, version)
        )""",
        # the database itself guarantees at most one production version per name
        "CREATE UNIQUE INDEX one_production ON versions (name) WHERE status = 'production'",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            action TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_name ON events (name, version)",
    ],
}


def default_path() -> Path:
    """$RAWTUNE_REGISTRY, else ~/.local/share/rawtune/registry.db: one registry per user, shared by
    every project, so `models:/NAME` means the same model wherever it is used."""
    env = os.environ.get("RAWTUNE_REGISTRY")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "rawtune" / "registry.db"


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) to a store at the current schema;
    ModelStoreError naming `path` when it is missing (create=False), not SQLite, or not a store."""
    if not path.exists():
        if not create:
            raise ModelStoreError(
                f"no model registry at {path}: register a version first (rawtune models register)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ModelStoreError(f"cannot create the model registry's folder {path.parent}: {e}") from None
    if path.is_dir():
        raise ModelStoreError(f"{path} is a directory, not a model registry file")
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as e:
        raise ModelStoreError(f"cannot open the model registry {path}: {e}") from None
    try:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        db.execute("PRAGMA foreign_keys = ON")
        _use_wal(db)
        _migrate(db, path)
    except sqlite3.DatabaseError as e:
        db.close()
        raise ModelStoreError(f"{path} is not a usable model registry (SQLite: {e})") from None
    except BaseException:
        db.close()
        raise
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL (a no-op once it is WAL: the mode is stored in the file). The switch takes
    an exclusive lock for which SQLite does not call the busy handler, so when another process opens a
    fresh registry at the same moment it fails at once with "database is locked" (seen in CI: 4 writers
    opening one new file); retry it, with jitter, until the same deadline busy_timeout gives writes."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.002, 0.02))


def _schema_version(db: sqlite3.Connection, path: Path) -> int:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return 0
    if "meta" not in tables:
        raise ModelStoreError(
            f"{path} is an SQLite database but not a rawtune model registry "
            f"(its tables: {', '.join(sorted(tables))})"
        )
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION. The first check takes no lock (the usual case: nothing to
    do); a migration re-checks under the write lock, since another process may have just done it."""
    if _schema_version(db, path) == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        current = _schema_version(db, path)
        if current > SCHEMA_VERSION:
            raise ModelStoreError(
                f"{path} was written by a newer rawtune (registry schema {current}; this one reads up to "
                f"{SCHEMA_VERSION}): upgrade rawtune"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                db.execute(statement)
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
