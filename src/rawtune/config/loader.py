"""YAML + dotted-override loading onto the typed schema, with errors that name file, line and key.

Hand-written on top of PyYAML's node API because no config library we could depend on maps pydantic
validation errors back to YAML line numbers *and* CLI flags while reporting all problems together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rawtune._version import __version__
from rawtune.config.base import STAGES, Section, get_dotted
from rawtune.config.options import Selector
from rawtune.errors import ConfigError, ConfigIssue
from rawtune.registry import did_you_mean

Marks = dict[tuple[str, ...], tuple[str, int]]  # key path -> (source, line)
CLI = "command line"


def read_marked_yaml(path: Path) -> tuple[dict[str, Any], Marks]:
    """A config file's data and the line of every key in it (for errors that name the line);
    ConfigError naming the file (and the line) when it is not a YAML mapping without aliases."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("-", "config file not found", file=str(path))]) from None
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        issue = ConfigIssue("-", f"not UTF-8 at byte {e.start}", file=str(path), line=line)
        raise ConfigError([issue]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigIssue("-", "is a directory, not a config file", file=str(path))]) from None
    try:
        # anchors and aliases (&a, *a) are refused: a few lines of them expand to billions of
        # values once anything walks the config (the "billion laughs"), and a config needs none
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                issue = ConfigIssue(
                    "-",
                    f"YAML alias *{event.anchor}: anchors and aliases are not supported in config files",
                    file=str(path),
                    line=event.start_mark.line + 1,
                )
                raise ConfigError([issue])
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

    issues: list[ConfigIssue] = []

    def walk(n: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*prefix, str(k.value))
                line = k.start_mark.line + 1
                if key in marks:  # PyYAML keeps the last value silently
                    first = marks[key][1]
                    issues.append(
                        ConfigIssue(
                            ".".join(key), f"duplicate key (first set on line {first})", str(path), line
                        )
                    )
                marks[key] = (str(path), line)
                walk(v, key)

    walk(node, ())
    if issues:
        raise ConfigError(issues)
    return data, marks


def _scalar_parent(data: dict[str, Any], dotted: str) -> tuple[str, ...] | None:
    """The key above `dotted` that holds a value that is not a mapping (`train: 3` under
    --train.lr=0.1), which setting `dotted` would silently replace; None when there is none."""
    parts = tuple(dotted.split("."))
    cur: Any = data
    for i, p in enumerate(parts[:-1]):
        if p not in cur:
            return None
        cur = cur[p]
        if cur is None:  # an empty section (`train:`) is a mapping yet to be filled
            return None
        if not isinstance(cur, dict):
            return parts[: i + 1]
    return None


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


def _fields_at(model: type[BaseModel], loc: tuple[str, ...], data: dict[str, Any]) -> list[str]:
    """The keys a config may hold at `loc` (a section a `Selector` picks: its chosen class's)."""
    cur: Any = model
    for i, part in enumerate(loc):
        field = cur.model_fields.get(part) if isinstance(cur, type) and issubclass(cur, BaseModel) else None
        if field is None:
            return []
        chooser = next((m for m in field.metadata if isinstance(m, Selector)), None)
        if chooser is not None:
            section = get_dotted(data, ".".join(loc[: i + 1]))
            return chooser.fields(section) if i == len(loc) - 1 else []
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
    data: dict[str, Any] | None = None,
) -> ConfigIssue:
    key = ".".join(loc) or "-"
    src = marks.get(loc)
    flag = key
    # an error inside a list/tuple element: point at the nearest marked ancestor
    probe = loc
    while src is None and probe:
        probe = probe[:-1]
        src = marks.get(probe)
    if src is None:  # an unknown section set only by flags: --trian.lr=1 is refused at "trian"
        below = sorted(k for k in marks if loc and k[: len(loc)] == loc)
        if below:
            src, flag = marks[below[0]], ".".join(below[0])
    file, line = src if src else (None, None)
    if kind == "extra_forbidden":
        msg = "unknown key"
        hint = did_you_mean(loc[-1], _fields_at(model, loc[:-1], data or {}))
        if hint:
            hint = ".".join((*loc[:-1], hint))
    if file == CLI:
        file, line = f"{CLI} (--{flag})", None
    return ConfigIssue(key=key, message=msg, file=file, line=line, hint=hint)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: Any) -> str:
    """pydantic's message, with the value it refused when that is a scalar (the message alone, such
    as "Input should be 'full', 'freeze', ...", does not say what was given)."""
    value = err.get("input")
    if err["type"] in ("missing", "extra_forbidden", "other_member_option") or not isinstance(
        value, (str, int, float, bool)
    ):
        return err["msg"]
    return f"{err['msg']}, got {_shown(value)}"


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
    schema = STAGES.get(stage)
    data: dict[str, Any] = {}
    for key, value in (base or {}).items():  # the Python API accepts nested and dotted keys alike
        _set_dotted(data, key, value) if "." in key else data.update(
            {key: _deep_merge(data.get(key, {}), value) if isinstance(value, dict) else value}
        )
    marks: Marks = {}
    if file is not None:
        ydata, marks = read_marked_yaml(Path(file))
        data = _deep_merge(data, ydata)
    for dotted, value in (overrides or {}).items():
        parent = _scalar_parent(data, dotted)
        if parent is not None:
            got = data
            for p in parent:
                got = got[p]
            issue = _issue(schema, parent, f"expected a mapping of keys, got {_shown(got)}", marks)
            raise ConfigError([issue])
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
            _issue(schema, tuple(map(str, err["loc"])), _message(err), marks, err["type"], _choice(err), data)
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


def coerce_config(stage: str, config: Any) -> Any:
    """A stage's config from what the Python API accepts: the config itself, a dict (nested or
    dotted keys) or the path of a YAML file."""
    if isinstance(config, Section):
        return config
    if isinstance(config, (str, Path)):
        return load_config(stage, file=config)
    if isinstance(config, dict):
        return load_config(stage, base=config)
    raise TypeError(f"config must be a {stage} config, a dict or a YAML path, not {type(config).__name__}")
