"""The model store (one SQLite file): named models with numbered versions, a production version per
name, promotion through gates, rollback, and `models:/NAME` references to them. Its file keeps the
older word the CLI uses for it: `--registry`, $RAWTUNE_REGISTRY, registry.db ("registry" in the code
means the name registries of `rawtune.registry`)."""

from __future__ import annotations

from rawtune.versions.records import Event, Version, check_name
from rawtune.versions.refs import is_model_ref, parse_model_ref, resolve_model_ref
from rawtune.versions.schema import default_path
from rawtune.versions.store import ModelStore

__all__ = [
    "Event",
    "ModelStore",
    "Version",
    "check_name",
    "default_path",
    "is_model_ref",
    "parse_model_ref",
    "resolve_model_ref",
]
