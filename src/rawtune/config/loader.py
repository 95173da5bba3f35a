"""YAML + dotted-override loading onto the typed schema, with errors that name file, line and key.

Hand-written on top of PyYAML's node API because no config library we could depend on maps pydantic
validation errors back to YAML line numbers *and* CLI flags while reporting all problems together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rawtune import __version__
from rawtune.config.schema import STAGES, Section
from rawtune.errors import ConfigError, ConfigIssue
from rawtune.registry import did_you_mean

Marks = dict[tuple[str, ...], tuple[str, int]]  # key path -> (source, line)
CLI = "command line"


def _read_yaml(path: Path) -> tuple[dict[str, Any], Marks]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("-", "config file not found", file=str(path))]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([ConfigIssue("-", f"not UTF-8 at byte {e.start}", file=str(path))]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([ConfigIssue("-", f"YAML syntax: {problem}", file=str(path), line=line)]) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("-", "top level must be a mapping of keys", file=str(path), line=1)])
    marks: Marks = {}

    def walk(n: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*prefix, str(k.value))
                marks[key] = (str(path), k.start_mark.line + 1)
                walk(v, key)

    walk(node, ())
    return data, marks


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def parse_value(raw: str) -> Any:
    """CLI values are YAML scalars/lists: `2000` -> int, `true` -> bool, `[a, b]` -> list."""
    try:
        return yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw


def _fields_at(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    cur: Any = model
    for part in loc:
        field = cur.model_fields.get(part) if isinstance(cur, type) and issubclass(cur, BaseModel) else None
        if field is None:
            return []
        cur = field.annotation
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    return []


def _issue(
    model: type[BaseModel],
    loc: tuple[str, ...],
    msg: str,
    marks: Marks,
    kind: str = "",
    hint: str | None = None,
) -> ConfigIssue:
    key = ".".join(loc) or "-"
    src = marks.get(loc)
    # an error inside a list/tuple element: point at the nearest marked ancestor
    probe = loc
    while src is None and probe:
        probe = probe[:-1]
        src = marks.get(probe)
    file, line = src if src else (None, None)
    if kind == "extra_forbidden":
        msg = "unknown key"
        hint = did_you_mean(loc[-1], _fields_at(model, loc[:-1]))
        if hint:
            hint = ".".join((*loc[:-1], hint))
    if file == CLI:
        file, line = f"{CLI} (--{key})", None
    return ConfigIssue(key=key, message=msg, file=file, line=line, hint=hint)


def _choice(err: Any) -> str | None:
    """Did-you-mean for a value outside a Literal's choices (e.g. tuning.method: lorra)."""
    if err["type"] != "literal_error" or not isinstance(err.get("input"), str):
        return None
    import re

    return did_you_mean(err["input"], re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", ""))))


def load_config(
    stage: str,
    file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
    require: bool = True,
) -> Any:
    """Build a validated stage config from (in rising priority) `base`, a YAML `file`, and `overrides`
    (dotted keys, already-parsed values). Raises `ConfigError` listing every problem; `require=False`
    skips the required-keys check (to show defaults)."""
    schema = STAGES[stage]
    data: dict[str, Any] = {}
    for key, value in (base or {}).items():  # the Python API accepts nested and dotted keys alike
        _set_dotted(data, key, value) if "." in key else data.update(
            {key: _deep_merge(data.get(key, {}), value) if isinstance(value, dict) else value}
        )
    marks: Marks = {}
    if file is not None:
        ydata, marks = _read_yaml(Path(file))
        data = _deep_merge(data, ydata)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
        marks[tuple(dotted.split("."))] = (CLI, 0)
    data["rawtune_version"] = __version__  # the version that resolves the config is the one recorded
    issues: list[ConfigIssue] = []
    if require and hasattr(schema, "missing_required"):
        issues = [
            _issue(schema, tuple(m.split(".")), "required, not set", marks)
            for m in schema.missing_required(data)
        ]
    try:
        cfg = schema.model_validate(data)
    except ValidationError as e:
        errs = [
            _issue(schema, tuple(str(p) for p in err["loc"]), err["msg"], marks, err["type"], _choice(err))
            for err in e.errors()
        ]
        issues = errs + issues
    if issues:
        raise ConfigError(issues)
    return cfg


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dump_config(cfg: Section) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
