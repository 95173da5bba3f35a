"""Dotted `--section.key=value` flags: every config key is a flag, without declaring each one."""

from __future__ import annotations

import difflib
from typing import Any


class UnknownFlags(Exception):
    pass


def split_overrides(
    extra: list[str], known_flags: list[str], dashes_to_underscores: bool = True
) -> dict[str, str]:
    """Turn leftover argv (`--a.b=v`, `--a.b v`) into {"a.b": "v"}; anything else is an error.
    Dashes in keys become underscores (`--train.max-steps`), except where keys start with a name
    that may hold dashes (a pipeline's stage names: `--ner-int8.gate.max_metric_drop`)."""
    out: dict[str, str] = {}
    bad: list[str] = []
    i = 0
    while i < len(extra):
        tok = extra[i]
        key, eq, value = tok[2:].partition("=") if tok.startswith("--") else ("", "", "")
        if not key or "." not in key:
            hint = difflib.get_close_matches(tok.split("=")[0], known_flags, n=1)
            bad.append(tok + (f" (did you mean {hint[0]}?)" if hint else ""))
            i += 1
            continue
        if not eq:
            if i + 1 >= len(extra) or extra[i + 1].startswith("--"):
                bad.append(f"{tok} (needs a value: {tok}=VALUE)")
                i += 1
                continue
            value = extra[i + 1]
            i += 1
        out[key.replace("-", "_") if dashes_to_underscores else key] = value
        i += 1
    if bad:
        raise UnknownFlags("unrecognised arguments: " + ", ".join(bad))
    return out


def parse_all(overrides: dict[str, str]) -> dict[str, Any]:
    from rawtune.config.loader import parse_value

    return {k: parse_value(v) for k, v in overrides.items()}
