"""The pipeline file: named stages, each of one kind with that command's own config, chained by
`from`. Loaded with line marks so that every problem, in the pipeline's own keys or inside a stage's
config, is reported with the file, line and key it comes from.

```yaml
name: dapt-tapt-ner
output: runs/dapt-tapt-ner        # each stage is a run directory under it: runs/dapt-tapt-ner/<stage>
model: null                       # backbone of stages without `from` (null: the packaged all-MiniLM-L6-v2)
stages:
  - {name: dapt, kind: pretrain, config: {data: {corpus: [domain.txt]}}}
  - {name: tapt, kind: pretrain, from: dapt, config: {data: {corpus: [task.txt]}}}
  - {name: ner, kind: finetune, from: tapt, config: {data: {train: train.conll, dev: dev.conll}}}
```
Inside a stage's config, `${STAGE}` is that stage's run directory and `${STAGE.KEY}` a file it
produced (a prepare stage's `train`, a tokenizer stage's `tokenizer`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rawtune.errors import ConfigError, ConfigIssue
from rawtune.pipeline.kinds import KINDS
from rawtune.registry import did_you_mean

BASE = "base"  # `from: base`: the pipeline's model, for a stage that lists several sources
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
REF = re.compile(r"\$\{([a-z0-9][a-z0-9_-]*)(?:\.([A-Za-z0-9_]+))?\}")
Marks = dict[tuple[str, ...], int]


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(description="Stage name: its run directory under the pipeline's output.")
    kind: Literal[tuple(KINDS.names())]  # type: ignore[valid-type]
    from_: str | list[str] | None = Field(
        None,
        alias="from",
        description="Stage(s) whose model this one starts from (default: the pipeline's model).",
    )
    config: dict[str, Any] = Field(default_factory=dict, description="The stage command's own config keys.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v == BASE or not NAME.match(v):
            raise ValueError("lower-case letters, digits, '-' and '_' (48 at most), and not 'base'")
        return v

    @property
    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_ or [])


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "pipeline"
    description: str = ""
    output: str = Field(description="Directory holding one run directory per stage, and pipeline.json.")
    model: str | None = Field(
        None, description="Backbone for stages without `from` (default: the packaged all-MiniLM-L6-v2)."
    )
    seed: int = Field(42, description="Default seed of every training stage that does not set its own.")
    stages: list[StageSpec] = Field(min_length=1)

    def stage(self, name: str) -> StageSpec:
        return next(s for s in self.stages if s.name == name)


def _marks(node: yaml.Node, prefix: tuple[str, ...] = (), out: Marks | None = None) -> Marks:
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*prefix, str(k.value))
            out[key] = k.start_mark.line + 1
            _marks(v, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[(*prefix, str(i))] = v.start_mark.line + 1
            _marks(v, (*prefix, str(i)), out)
    return out


def _line(marks: Marks, loc: tuple[str, ...]) -> int | None:
    while loc:
        if loc in marks:
            return marks[loc]
        loc = loc[:-1]
    return None


def read_pipeline(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[PipelineSpec, Marks]:
    """The validated pipeline (every stage's config checked against its command's schema too)."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError([ConfigIssue("-", "pipeline file not found", file=file)]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([ConfigIssue("-", f"not UTF-8 at byte {e.start}", file=file)]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(
            [
                ConfigIssue(
                    "-", f"YAML syntax: {getattr(e, 'problem', e)}", file=file, line=mark and mark.line + 1
                )
            ]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("-", "top level must be a mapping with `stages:`", file=file, line=1)])
    marks = _marks(node) if node is not None else {}
    for dotted, value in (overrides or {}).items():
        _override(data, dotted, value)
    return validate_pipeline(data, file, marks), marks


def _override(data: dict[str, Any], dotted: str, value: Any) -> None:
    """`--output=x` or `--STAGE.KEY.PATH=v` (a key of that stage's config)."""
    head, _, rest = dotted.partition(".")
    if not rest:
        data[head] = value
        return
    for stage in data.get("stages") or []:
        if isinstance(stage, dict) and stage.get("name") == head:
            cur = stage.setdefault("config", {})
            *parents, last = rest.split(".")
            for p in parents:
                cur = cur.setdefault(p, {})
            cur[last] = value
            return
    names = [s.get("name") for s in data.get("stages") or [] if isinstance(s, dict)]
    hint = did_you_mean(head, [n for n in names if isinstance(n, str)])
    raise ConfigError([ConfigIssue(dotted, f"no stage named '{head}'", file="command line", hint=hint)])


def validate_pipeline(data: dict[str, Any], file: str, marks: Marks) -> PipelineSpec:
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as e:
        issues = []
        for err in e.errors():
            loc = tuple(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            issues.append(ConfigIssue(".".join(loc) or "-", msg, file=file, line=_line(marks, loc)))
        raise ConfigError(issues) from None
    issues = _check_graph(spec, file, marks)
    if issues:
        raise ConfigError(issues)
    return spec


def _check_graph(spec: PipelineSpec, file: str, marks: Marks) -> list[ConfigIssue]:
    """Names unique; `from` and `${...}` name earlier stages (so the order is a valid plan)."""
    issues: list[ConfigIssue] = []
    seen: list[str] = []
    for i, st in enumerate(spec.stages):
        at = ("stages", str(i))
        if st.name in seen:
            issues.append(
                ConfigIssue(f"stages.{i}.name", f"'{st.name}' is used twice", file, _line(marks, at))
            )
        for src in st.sources:
            if src != BASE and src not in seen:
                hint = did_you_mean(src, seen)
                issues.append(
                    ConfigIssue(
                        f"stages.{i}.from",
                        f"'{src}' is not an earlier stage",
                        file,
                        _line(marks, (*at, "from")),
                        hint=hint,
                    )
                )
        for ref in references(st.config):
            if ref not in seen:
                issues.append(
                    ConfigIssue(
                        f"stages.{i}.config",
                        f"${{{ref}}} does not name an earlier stage",
                        file,
                        _line(marks, (*at, "config")),
                        hint=did_you_mean(ref, seen),
                    )
                )
        seen.append(st.name)
    return issues


def references(value: Any) -> set[str]:
    """Stage names referred to as ${NAME} or ${NAME.KEY} anywhere in a config value."""
    return {name for name, _ in reference_keys(value)}


def reference_keys(value: Any) -> set[tuple[str, str | None]]:
    """(NAME, KEY) of each ${NAME.KEY} anywhere in a config value; KEY is None for ${NAME}."""
    if isinstance(value, dict):
        return set().union(*(reference_keys(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(reference_keys(v) for v in value)) if value else set()
    return {(m.group(1), m.group(2)) for m in REF.finditer(value)} if isinstance(value, str) else set()


def stage_line(marks: Marks, index: int, key: str) -> int | None:
    """Line of a dotted key inside stage `index`'s config (for errors from the stage's schema)."""
    return _line(marks, ("stages", str(index), "config", *key.split(".")))
