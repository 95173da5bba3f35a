"""Fixtures for the model-store tests: a store file under tmp_path (also as $RAWTUNE_REGISTRY,
so no test can reach the user's own store) and fake run directories (no models needed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rawtune.versions import ModelStore


@pytest.fixture(autouse=True)
def registry_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "registry.db"
    monkeypatch.setenv("RAWTUNE_REGISTRY", str(path))
    return path


@pytest.fixture
def reg(registry_path: Path) -> Iterator[ModelStore]:
    with ModelStore(registry_path) as registry:
        yield registry


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """make_run(name, metrics=None, manifest=None): a run directory with those JSON files."""

    def make(
        name: str, metrics: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None
    ) -> Path:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        if metrics is not None:
            (run / "metrics.json").write_text(json.dumps(metrics))
        if manifest is not None:
            (run / "manifest.json").write_text(json.dumps(manifest))
        return run

    return make
