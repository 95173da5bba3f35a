"""What makes two configs the same run: the fingerprint a run records (and its checkpoints carry),
and the check that a --resume (or a study's --resume) continues the very config it started with.
Keys that change nothing computed are left out of both."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from rawtune.config.base import Section
from rawtune.config.options import flat_view
from rawtune.errors import CheckpointError

# keys that may differ between a run and its --resume without changing what is computed: these, and
# any section's `progress` and `threads` (train.threads, setfit.train.progress, ...)
_RESUME_FREE = ("rawtune_version", "output")
_RESUME_FREE_LEAVES = ("progress", "threads")


def _resume_free(key: str) -> bool:
    return key in _RESUME_FREE or key.rsplit(".", 1)[-1] in _RESUME_FREE_LEAVES


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def _drop_inert(flat: dict[str, Any]) -> dict[str, Any]:
    """Without augmentation (`data.augment.factor` 0 or absent) the `data.augment.*` options compute
    nothing: left out, so runs written before the section existed keep their fingerprint and resume.
    So are `data.extra_train` and `data.extra_weight` without extra training files."""
    if not flat.get("data.extra_train"):
        flat = {k: v for k, v in flat.items() if k not in ("data.extra_train", "data.extra_weight")}
    if flat.get("data.augment.factor"):
        return flat
    return {k: v for k, v in flat.items() if not k.startswith("data.augment.")}


def config_fingerprint(cfg: Section) -> str:
    data = flat_view(cfg.model_dump(mode="json"))  # the task and tuning keys as they were fingerprinted
    flat = {k: v for k, v in _drop_inert(_flatten(data)).items() if not _resume_free(k)}
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]


def check_same_config(path: Path, cfg: Section) -> None:
    """The resolved config written at `path` is `cfg` (but for keys that change nothing computed).
    The written one is read through the schema first, so keys an older rawtune wrote in another
    shape (the flat task and tuning sections) compare as they load; one that does not validate is
    compared as written."""
    from pydantic import ValidationError

    written = yaml.safe_load(path.read_text()) or {}
    with contextlib.suppress(ValidationError):
        written = type(cfg).model_validate(written).model_dump(mode="json")
    stored = _drop_inert(_flatten(written))
    now = _drop_inert(_flatten(cfg.model_dump(mode="json")))
    diff = sorted(k for k in set(stored) | set(now) if not _resume_free(k) and stored.get(k) != now.get(k))
    if diff:
        shown = ", ".join(f"{k} ({stored.get(k)!r} -> {now.get(k)!r})" for k in diff[:6])
        raise CheckpointError(f"--resume: the config differs from {path}: {shown}")
