"""`models:/NAME[/N|/latest]`: a version in the model store wherever a run directory is expected (serve,
predict), so deployments name "the production sst2 model" instead of a path that changes with every
retraining."""

from __future__ import annotations

from pathlib import Path

from rawtune.errors import ModelStoreError
from rawtune.versions.records import check_name

PREFIX = "models:/"


def is_model_ref(ref: str) -> bool:
    return ref.startswith(PREFIX)


def parse_model_ref(ref: str) -> tuple[str, int | str | None]:
    """(name, selector): selector None = production, an int = that version, "latest" = the newest."""
    parts = ref[len(PREFIX) :].split("/")
    if len(parts) > 2 or not parts[0]:
        raise ModelStoreError(f"{ref!r}: expected models:/NAME, models:/NAME/VERSION or models:/NAME/latest")
    name = check_name(parts[0])
    if len(parts) == 1:
        return name, None
    if parts[1] == "latest":
        return name, "latest"
    if not parts[1].isdigit() or int(parts[1]) < 1:
        raise ModelStoreError(f"{ref!r}: the version must be a number from 1 or 'latest', not {parts[1]!r}")
    return name, int(parts[1])


def resolve_model_ref(ref: str, registry: str | Path | None = None) -> str:
    """The run directory `ref` names; anything that is not a models:/ reference comes back unchanged.
    `registry`: the registry file (default: $RAWTUNE_REGISTRY or ~/.local/share/rawtune/registry.db)."""
    if not is_model_ref(ref):
        return ref
    from rawtune.versions.store import ModelStore

    name, selector = parse_model_ref(ref)
    with ModelStore(registry, create=False) as reg:
        if selector is None:
            version = reg.production(name)
            if version is None:
                raise ModelStoreError(
                    f"{ref}: '{name}' has no production version; promote one "
                    f"(rawtune models promote {name}) or name a version: {PREFIX}{name}/N"
                )
        else:
            version = reg.get(name, None if selector == "latest" else int(selector))
    return version.run


def named_runs(
    runs: list[str], named: list[str], registry: str | Path | None = None
) -> tuple[list[str], list[str]]:
    """For `rawtune serve RUN ... --name NAME=RUN`: a positional models:/NAME[/N] is served as NAME
    (the registry name, not its run directory's), and the RUN of a NAME=RUN pair may be a reference.
    Returns (plain runs, NAME=RUN pairs) with every reference resolved to its directory."""
    plain = [r for r in runs if not is_model_ref(r)]
    pairs = [f"{parse_model_ref(r)[0]}={resolve_model_ref(r, registry)}" for r in runs if is_model_ref(r)]
    for spec in named:
        alias, eq, run = spec.partition("=")
        pairs.append(f"{alias}={resolve_model_ref(run, registry)}" if eq and is_model_ref(run) else spec)
    return plain, pairs
