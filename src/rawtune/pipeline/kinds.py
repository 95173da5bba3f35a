"""What a kind of pipeline stage is (`Kind`), and `KINDS`, the registry of every kind. Each kind is
declared once, in one of the modules `KINDS` lists: its config schema, how the pipeline completes
its config (output directory, the model it starts from, the seed), the input files it names, and
how it runs. The runner asks the kind and never switches on its name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from rawtune.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from rawtune.runs.rundir import RunDir

Config = dict[str, Any]


def _as_given(cfg: Config, sources: dict[str, str], model: str | None) -> Config:
    return cfg


def _no_inputs(cfg: Config) -> list[tuple[str, Any]]:
    return []


@dataclass(frozen=True)
class Kind:
    """`validate(cfg)`: the validated config, every default expanded, as plain JSON data; raises
    ConfigError whose keys are the stage config's own dotted keys.
    `run(cfg, resume, progress)`: runs the stage on its validated config and returns the files it
    produced.
    `complete(cfg, sources, model)`: the config with the model it starts from filled in; `sources`
    maps each `from` stage to its run directory (or its symbolic reference while planning), `model`
    is the pipeline's model for stages without `from`.
    `inputs(cfg)`: (key, path) of the input files the config names, checked while planning."""

    validate: Callable[[Config], Config]
    run: Callable[[Config, bool, bool], dict[str, str]]
    complete: Callable[[Config, dict[str, str], str | None], Config] = _as_given
    inputs: Callable[[Config], list[tuple[str, Any]]] = _no_inputs
    seeded: bool = False  # takes the pipeline's seed unless its config sets one
    resumable: Callable[[RunDir], bool] | None = None  # whether a failed run of it can resume
    # what a downstream stage loads: this folder of its run directory ("": the run), or a function of
    # the run directory (selftrain: the best round's run, which selftrain.json names)
    model: str | Callable[[Path], str] = ""
    serves: bool = False  # not run in turn: the pipeline serves it once every other stage is done
    # for a kind whose outputs are a pure function of the files it names (`prepare`): the fingerprint
    # of each output a later stage may name as ${stage.key}, from the validated config and {path:
    # sha256} of its input files. A stage that reads only such outputs is re-run when they change,
    # not whenever a sibling output is added or changed.
    parts: Callable[[Config, dict[str, str]], dict[str, str]] | None = None


KINDS: Registry[Kind] = Registry(
    "pipeline stage kind",
    members=(
        "rawtune.pipeline.input_kinds",
        "rawtune.pipeline.training_kinds",
        "rawtune.pipeline.output_kinds",
        "rawtune.pipeline.choice_kinds",
    ),
)


def complete_config(
    kind: str, cfg: Config, *, output: str, sources: dict[str, str], model: str | None, seed: int
) -> Config:
    """The stage's config with what the pipeline provides filled in: its output directory, the
    pipeline's seed for a training stage, and the model it starts from (see `Kind`)."""
    k = KINDS.get(kind)
    cfg = {**cfg, "output": output}
    if k.seeded:
        cfg.setdefault("seed", seed)
    return k.complete(cfg, sources, model)


def validate(kind: str, cfg: Config) -> Config:
    return KINDS.get(kind).validate(cfg)


def execute(kind: str, cfg: Config, *, resume: bool, progress: bool) -> dict[str, str]:
    return KINDS.get(kind).run(cfg, resume, progress)


def missing_inputs(kind: str, cfg: Config) -> list[tuple[str, str]]:
    """(key, path) of the input files a stage names that do not exist, found while planning so a
    typo in the last stage's data does not wait for the first stages to train."""
    return [
        (key, path)
        for key, path in KINDS.get(kind).inputs(cfg)
        if isinstance(path, str)
        and not path.startswith(("@", "hf:"))
        and not any(c in path for c in "*?[")
        and not Path(path).exists()
    ]


def first_source(sources: dict[str, str]) -> str | None:
    return next(iter(sources.values()), None)


class PlainConfig(BaseModel):
    """The schema of a kind that has no command of its own (prepare, tokenizer, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def plain(schema: type[BaseModel], data: Config) -> Config:
    """`data` validated by `schema`, as plain JSON data; a ConfigError names each bad key."""
    from pydantic import ValidationError

    from rawtune.errors import ConfigError, ConfigIssue

    try:
        return schema.model_validate(data).model_dump(mode="json")
    except ValidationError as e:
        issues = [
            ConfigIssue(
                ".".join(str(p) for p in err["loc"]) or "-",
                "unknown key" if err["type"] == "extra_forbidden" else err["msg"],
            )
            for err in e.errors()
        ]
        raise ConfigError(issues) from None


def own_run(cfg: Config, kind: str, parent: str | None = None) -> Any:
    """A run directory for a kind without a command of its own, its config written as given."""
    import yaml

    from rawtune.runs.rundir import RunDir

    manifest = {"stage": kind, "parent": str(Path(parent).resolve()) if parent else None}
    return RunDir.create(cfg["output"], yaml.safe_dump(cfg, sort_keys=False), manifest)
