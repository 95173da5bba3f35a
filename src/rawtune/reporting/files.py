"""Reading run files tolerantly, and walking what was read: a missing file is None, a damaged one
is noted (never raised), and `dig` / `obj` / `seq` / `number` take a value apart without assuming its
type, so an older or hand-edited run still gets a report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx")  # as rawtune.compress.measure counts them


def dig(data: Any, *keys: str) -> Any:
    """data[k1][k2]...; None when a level is missing or is not an object (an older or damaged run
    must not crash its report)."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def obj(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else {}."""
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    """The value when it is a JSON array, else []."""
    return value if isinstance(value, list) else []


def number(value: Any) -> float | None:
    """A finite int/float (not a bool), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The parsed JSON object, or None when absent; an unreadable file (or one holding something
    other than an object) is noted in `problems`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        problems.append(f"{path.name}: {e}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name}: not a JSON object")
        return None
    return data


def read_jsonl(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    """Records of a metrics log; a torn last line (a killed run) is skipped and noted."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            problems.append(f"{path.name}:{i}: not JSON (skipped)")
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_yaml(text: str | None, problems: list[str]) -> dict[str, Any]:
    if not text:
        return {}
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        problems.append(f"config.yaml: {e}")
        return {}
    return data if isinstance(data, dict) else {}


def dir_mb(path: Path) -> float | None:
    """MB (10^6 bytes) of the weight files directly in `path`, counted as `rawtune compress` counts
    them (so a run and its compressed copy compare); None when it is not a directory."""
    if not path.is_dir():
        return None
    files = [p for p in path.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]
    return sum(p.stat().st_size for p in files) / 1e6


def read_text(path: Path) -> str | None:
    """The text of a file, or None when it is absent or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
