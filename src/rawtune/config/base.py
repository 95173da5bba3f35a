"""What every config section shares: the frozen, strict pydantic base, path fields, and the dotted-key
reader for raw config data."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from rawtune.registry import Registry

# paths may be given as pathlib.Path from Python; stored as strings
PathStr = Annotated[str, BeforeValidator(lambda v: os.fspath(v) if isinstance(v, os.PathLike) else v)]


def get_dotted(data: dict, key: str) -> object:
    """The value at a dotted key of raw (not yet validated) config data, or None."""
    cur: object = data
    for part in key.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# The config class of every stage, by the stage's name (`load_config("fewshot", ...)`): each module
# registers its own (`@STAGES.register("fewshot")`); the first lookup imports them all.
STAGES: Registry[type[Section]] = Registry(
    "stage",
    members=tuple(
        f"rawtune.config.{m}"
        for m in ("schema", "compress", "augment", "fewshot", "hpo", "zeroshot", "continual", "selftrain")
    ),
)
