"""The model store: named models, numbered versions (each a run directory), one production
version per name, and an event log that makes promotions auditable and rollbacks possible.

It is one SQLite file, not a server, so it works on a laptop and in CI alike, and several processes
(parallel training jobs, a scheduler) can register at once: every write is a `BEGIN IMMEDIATE`
transaction that allocates the next version number while holding the write lock.
"""

from __future__ import annotations

import builtins
import difflib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rawtune.errors import ModelStoreError, PromotionRefused
from rawtune.versions.records import COLUMNS, INSERT, Event, Version, check_name, now, to_row, version_from
from rawtune.versions.schema import connect, default_path


class ModelStore:
    """The store in one SQLite file (default: $RAWTUNE_REGISTRY or ~/.local/share/rawtune/registry.db).
    `create=False` refuses a missing file instead of making an empty store (for look-ups)."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._db = connect(self.path, create=create)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ModelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing: every SQLite failure becomes a ModelStoreError naming the file ---------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            self._abort()
            raise ModelStoreError(f"model registry {self.path}: {e}") from None
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> builtins.list[sqlite3.Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise ModelStoreError(f"model registry {self.path}: {e}") from None

    def _event(self, name: str, version: int, action: str, detail: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO events (name, version, action, at, detail) VALUES (?, ?, ?, ?, ?)",
            (name, version, action, now(), json.dumps(detail)),
        )

    def _require(self, name: str) -> None:
        """An unknown name is an error with a did-you-mean, not an empty answer."""
        check_name(name)
        if not self._rows("SELECT 1 FROM versions WHERE name = ? LIMIT 1", (name,)):
            known = self.names()
            hint = difflib.get_close_matches(name, known, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else f"; known: {', '.join(known) or 'none'}"
            raise ModelStoreError(f"no model named '{name}' in {self.path}{extra}")

    # --- reading ------------------------------------------------------------------------------------

    def get(self, name: str, version: int | None = None) -> Version:
        """One version; None: the latest."""
        self._require(name)
        if version is None:
            rows = self._rows(
                f"SELECT {COLUMNS} FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            )
        else:
            rows = self._rows(
                f"SELECT {COLUMNS} FROM versions WHERE name = ? AND version = ?", (name, version)
            )
        if not rows:
            latest = self.get(name).version
            raise ModelStoreError(f"'{name}' has no version {version} (versions 1 to {latest})")
        return version_from(rows[0])

    def list(self, name: str | None = None) -> builtins.list[Version]:
        if name is None:
            return [
                version_from(r) for r in self._rows(f"SELECT {COLUMNS} FROM versions ORDER BY name, version")
            ]
        self._require(name)
        rows = self._rows(f"SELECT {COLUMNS} FROM versions WHERE name = ? ORDER BY version", (name,))
        return [version_from(r) for r in rows]

    def production(self, name: str) -> Version | None:
        self._require(name)
        rows = self._rows(f"SELECT {COLUMNS} FROM versions WHERE name = ? AND status = 'production'", (name,))
        return version_from(rows[0]) if rows else None

    def names(self) -> builtins.list[str]:
        return [r[0] for r in self._rows("SELECT DISTINCT name FROM versions ORDER BY name")]

    def find_data(self, name: str, fingerprint_key: str, value: Any) -> Version | None:
        """The latest version trained on this data (`data[fingerprint_key] == value`), so a scheduled
        job can skip data it has already learned from (`--if-new`); None for an unknown name too."""
        check_name(name)
        rows = self._rows(f"SELECT {COLUMNS} FROM versions WHERE name = ? ORDER BY version DESC", (name,))
        return next((v for v in map(version_from, rows) if v.data.get(fingerprint_key) == value), None)

    def history(self, name: str) -> builtins.list[Event]:
        self._require(name)
        rows = self._rows(
            "SELECT id, name, version, action, at, detail FROM events WHERE name = ? ORDER BY id", (name,)
        )
        return [
            Event(r["id"], r["name"], r["version"], r["action"], r["at"], json.loads(r["detail"]))
            for r in rows
        ]

    # --- writing ------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        run: str | Path,
        *,
        parent: int | None = None,
        task: str | None = None,
        metrics: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        gate: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> Version:
        """A new candidate version: max(version) + 1 for this name, allocated under the write lock."""
        check_name(name)
        path = Path(run).expanduser()
        if not path.is_dir():
            raise ModelStoreError(f"{run}: not a directory; a version is a run directory")
        with self._write() as db:
            known = "SELECT 1 FROM versions WHERE name = ? AND version = ?"
            if parent is not None and not db.execute(known, (name, parent)).fetchone():
                raise ModelStoreError(f"parent version {parent} of '{name}' is not in {self.path}")
            (number,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE name = ?", (name,)
            ).fetchone()
            v = Version(
                name=name,
                version=number,
                run=str(path.resolve()),
                parent=parent,
                status="candidate",
                task=task,
                created=now(),
                metrics=dict(metrics or {}),
                data=dict(data or {}),
                gate=gate,
                note=note,
            )
            db.execute(INSERT, to_row(v))
            self._event(name, number, "register", {"run": v.run, "parent": parent})
        return v

    def promote(self, name: str, version: int | None = None, *, force: bool = False) -> Version:
        """Make a version production (None: the latest candidate); the previous production version is
        archived. A failed gate refuses unless `force`. The event links to the event that made the
        replaced version production: that chain is what `rollback` walks back."""
        self._require(name)
        with self._write() as db:
            if version is None:
                row = db.execute(
                    f"SELECT {COLUMNS} FROM versions WHERE name = ? AND status = 'candidate' "
                    "ORDER BY version DESC LIMIT 1",
                    (name,),
                ).fetchone()
                if row is None:
                    raise ModelStoreError(f"'{name}' has no candidate version to promote; name a version")
                target = version_from(row)
            else:
                target = self.get(name, version)
            if target.status == "production":
                raise ModelStoreError(f"'{name}' version {target.version} is already production")
            if target.gate_failed and not force:
                reasons = "; ".join(map(str, (target.gate or {}).get("failed") or [])) or "passed: false"
                raise PromotionRefused(
                    f"'{name}' version {target.version} failed its gate ({reasons}); "
                    "promote it anyway with --force (force=True)"
                )
            current = self.production(name)
            made = self._made_production(name) if current else None
            self._swap(name, current, target.version)
            detail = {
                "previous": current.version if current else None,
                "previous_event": made["id"] if made else None,
                "forced": force and target.gate_failed,
            }
            self._event(name, target.version, "promote", detail)
        return self.get(name, target.version)

    def rollback(self, name: str) -> Version:
        """Archive the production version and restore the one it replaced. Repeated rollbacks walk
        further back (v3 -> v2 -> v1): the rollback event copies the restored version's own links."""
        self._require(name)
        with self._write() as db:
            current = self.production(name)
            if current is None:
                raise ModelStoreError(f"'{name}' has no production version: nothing to roll back")
            made = self._made_production(name)
            link = json.loads(made["detail"]).get("previous_event") if made else None
            if link is None:
                raise ModelStoreError(
                    f"'{name}' version {current.version} is the first production version: "
                    "nothing to roll back to"
                )
            restored = db.execute("SELECT version, detail FROM events WHERE id = ?", (link,)).fetchone()
            links = json.loads(restored["detail"])
            self._swap(name, current, restored["version"])
            detail = {
                "from": current.version,
                "previous": links.get("previous"),
                "previous_event": links.get("previous_event"),
            }
            self._event(name, restored["version"], "rollback", detail)
        return self.get(name, restored["version"])

    def _made_production(self, name: str) -> sqlite3.Row | None:
        """The event that made the current production version production: production changes only
        through promote and rollback, so it is the latest of those."""
        return self._db.execute(
            "SELECT id, version, detail FROM events WHERE name = ? AND action IN ('promote', 'rollback') "
            "ORDER BY id DESC LIMIT 1",
            (name,),
        ).fetchone()

    def _swap(self, name: str, current: Version | None, new: int) -> None:
        """Archive first: the one_production index allows a single production row per name."""
        if current is not None:
            self._db.execute(
                "UPDATE versions SET status = 'archived' WHERE name = ? AND version = ?",
                (name, current.version),
            )
        self._db.execute(
            "UPDATE versions SET status = 'production' WHERE name = ? AND version = ?", (name, new)
        )
