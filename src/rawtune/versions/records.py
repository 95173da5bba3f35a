"""What the model store holds, as values: a `Version` (one run directory under a name) and an `Event`
(an entry of the audit log), plus the model-name rule. Kept apart from the SQLite code so that
callers can type against them without opening a database."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from rawtune.errors import ModelStoreError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
Status = Literal["candidate", "production", "archived"]
COLUMNS = "name, version, run, parent, status, task, created, metrics, data, gate, note"
INSERT = f"INSERT INTO versions ({COLUMNS}) VALUES ({', '.join(':' + c for c in COLUMNS.split(', '))})"


@dataclass(frozen=True)
class Version:
    name: str
    version: int
    run: str  # absolute path of the run directory
    parent: int | None  # the version of the same name this one was trained from
    status: Status
    task: str | None
    created: str  # ISO 8601, UTC
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # data fingerprints, e.g. from the run manifest
    gate: dict[str, Any] | None = None
    note: str | None = None

    @property
    def gate_failed(self) -> bool:
        """A gate that said no: `passed: false` (continual) or `accepted: false` (compress)."""
        gate = self.gate or {}
        return gate.get("passed") is False or gate.get("accepted") is False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    id: int  # the order of events; `previous_event` in a detail points at one
    name: str
    version: int
    action: str  # register | promote | rollback
    at: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ModelStoreError(
            f"{name!r} is not a usable model name: start with a letter or digit, then letters, digits, "
            "'.', '_' or '-' (128 characters at most)"
        )
    return name


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def version_from(row: sqlite3.Row) -> Version:
    return Version(
        name=row["name"],
        version=row["version"],
        run=row["run"],
        parent=row["parent"],
        status=row["status"],
        task=row["task"],
        created=row["created"],
        metrics=json.loads(row["metrics"]),
        data=json.loads(row["data"]),
        gate=json.loads(row["gate"]) if row["gate"] is not None else None,
        note=row["note"],
    )


def to_row(v: Version) -> dict[str, Any]:
    """The named parameters of INSERT: the dict fields as JSON text."""
    row = v.to_dict()
    for key in ("metrics", "data"):
        row[key] = json.dumps(row[key])
    row["gate"] = None if v.gate is None else json.dumps(v.gate)
    return row
