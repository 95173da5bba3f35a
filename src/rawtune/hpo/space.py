"""The search space: a YAML file mapping fine-tuning config keys to ranges, checked before any trial
runs (unknown keys, malformed ranges, and bounds the config would refuse are named with file and line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawtune.errors import ConfigError, ConfigIssue

_TYPES = ("float", "int", "categorical")
_KEYS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}}
_KEYS["categorical"] = {"choices"}


@dataclass(frozen=True)
class Param:
    key: str  # dotted fine-tuning config key, e.g. "train.lr"
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return trial.suggest_categorical(self.key, list(self.choices))

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and self.low <= value <= self.high and (self.type == "float" or float(value).is_integer())

    def extremes(self) -> list[Any]:
        """The values a trial can take at the edges: every one must make a valid config."""
        if self.type == "categorical":
            return list(self.choices)
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys (`train.lr:`) and nested mappings (`train: {lr: ...}`) alike; a mapping with a
    `type` is a range."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and "type" not in v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _parse(key: str, spec: Any) -> tuple[Param | None, str | None]:
    """(the range, None) or (None, what is wrong with it)."""
    if not isinstance(spec, dict):
        return None, "must be a mapping like {type: float, low: 1.0e-5, high: 1.0e-3}"
    kind = spec.get("type")
    if kind not in _TYPES:
        return None, f"type must be one of {', '.join(_TYPES)}, not {kind!r}"
    extra = set(spec) - _KEYS[kind] - {"type"}
    if extra:
        return None, f"unknown field(s) {sorted(extra)} for type {kind} (known: {sorted(_KEYS[kind])})"
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            return None, "categorical needs a non-empty list of choices"
        return Param(key, kind, choices=tuple(choices)), None
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    if not numbers:
        return None, f"{kind} needs numeric low and high"
    if kind == "int" and not all(float(x).is_integer() for x in (low, high)):
        return None, "int needs whole-number low and high"
    if low >= high:
        return None, f"low ({low}) must be below high ({high})"
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and low <= 0:
        return None, "log needs low > 0"
    if log and step is not None:
        return None, "log and step cannot be combined"
    return Param(key, kind, float(low), float(high), log, step), None


def read_space(path: str | Path, base: Any) -> list[Param]:
    """The ranges of `path`, each key a key of the fine-tuning config `base`, every edge value one the
    config accepts. All problems are reported together."""
    from rawtune.config.loader import load_config, read_marked_yaml

    data, marks = read_marked_yaml(Path(path))
    flat = _flatten(data)
    if not flat:
        raise ConfigError([ConfigIssue("-", "the search space is empty", file=str(path), line=1)])
    issues: list[ConfigIssue] = []
    params: list[Param] = []
    known = _leaf_keys(base.model_dump(mode="json")) - {"output", "stage", "rawtune_version"}
    for key, spec in flat.items():
        where = _mark(marks, key)
        if key not in known:
            from rawtune.registry import did_you_mean

            hint = did_you_mean(key, sorted(known))
            issues.append(
                ConfigIssue(key, "not a fine-tuning config key", file=str(path), line=where, hint=hint)
            )
            continue
        param, problem = _parse(key, spec)
        if problem:
            issues.append(ConfigIssue(key, problem, file=str(path), line=where))
            continue
        assert param is not None
        for value in param.extremes():
            try:
                load_config("finetune", base=base.model_dump(), overrides={key: value}, require=False)
            except ConfigError as e:
                why = "; ".join(i.message for i in e.issues)
                issues.append(
                    ConfigIssue(
                        key,
                        f"the value {value!r} is refused by the config: {why}",
                        file=str(path),
                        line=where,
                    )
                )
                break
        params.append(param)
    if issues:
        raise ConfigError(issues)
    return params


def _leaf_keys(d: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in d.items():
        out |= _leaf_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def _mark(marks: dict[tuple[str, ...], tuple[str, int]], key: str) -> int | None:
    """The line of a key written dotted (`train.lr:`) or nested (`train: {lr: ...}`)."""
    src = marks.get((key,)) or marks.get(tuple(key.split(".")))
    return src[1] if src else None


def baseline(space: list[Param], base: Any) -> dict[str, Any]:
    """The fine-tuning config's own values of the searched keys, those a trial can take."""
    from rawtune.config.base import get_dotted

    data = base.model_dump(mode="json")
    values = {p.key: get_dotted(data, p.key) for p in space}
    return {k: v for p, (k, v) in zip(space, values.items()) if p.contains(v)}
