"""The model-version registry (one SQLite file): named models with numbered versions, a production
version per name, promotion through gates, rollback, and `models:/NAME` references to them."""

from __future__ import annotations

from rawtune.versions.records import Event, Version, check_name
from rawtune.versions.refs import is_model_ref, parse_model_ref, resolve_model_ref
from rawtune.versions.schema import default_path
from rawtune.versions.store import ModelRegistry

__all__ = [
    "Event",
    "ModelRegistry",
    "Version",
    "check_name",
    "default_path",
    "is_model_ref",
    "parse_model_ref",
    "resolve_model_ref",
]
