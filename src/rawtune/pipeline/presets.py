"""Packaged pipeline presets (src/rawtune/config/presets/*.yaml): `rawtune config list|init NAME`."""

from __future__ import annotations

from importlib import resources

import yaml

from rawtune.errors import ConfigError, ConfigIssue
from rawtune.registry import did_you_mean


def _folder():
    return resources.files("rawtune") / "config" / "presets"


def names() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in _folder().iterdir() if p.name.endswith(".yaml"))


def text(name: str) -> str:
    """The preset's YAML, comments included (they explain what to edit)."""
    if name not in names():
        hint = did_you_mean(name, names())
        raise ConfigError(
            [ConfigIssue("preset", f"no preset '{name}'; presets: {', '.join(names())}", hint=hint)]
        )
    return (_folder() / f"{name}.yaml").read_text(encoding="utf-8")


def describe() -> list[tuple[str, str, list[str]]]:
    """(name, description, stage names) of every preset."""
    out = []
    for name in names():
        data = yaml.safe_load(text(name))
        out.append((name, data.get("description", ""), [s["name"] for s in data.get("stages", [])]))
    return out
