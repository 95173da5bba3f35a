"""Dotted `--section.key=value` flags: every config key is a flag, without declaring each one."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
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


# --- what every stage command's parser shares ------------------------------------------------------
def add_config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="YAML", help="config file (flags override it)")


def add_resume_flag(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--resume", action="store_true", help=help)


def add_progress_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-progress",
        dest="no_progress",
        action="store_true",
        help="no progress bars (every *.progress key of the config set to false)",
    )


def add_threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads for everything the command runs (every *.threads key of its config; "
        "default: torch's own choice)",
    )


def renamed_flag(p: argparse.ArgumentParser, old: str, new: str, why: str) -> None:
    """A flag this command once had under a name that now means something else in other commands:
    hidden from --help and refused with the new name (see `refuse_renamed`)."""
    p.add_argument(old, dest=f"renamed:{old}:{new}:{why}", default=None, help=argparse.SUPPRESS)


def refuse_renamed(args: argparse.Namespace) -> None:
    """One line naming the new flag for a renamed one (see `renamed_flag`)."""
    from rawtune.errors import ConfigError, ConfigIssue

    for dest, value in vars(args).items():
        if dest.startswith("renamed:") and value is not None:
            _, old, new, why = dest.split(":", 3)
            raise ConfigError([ConfigIssue(old, f"{why}; this command's flag is {new}", file="command line")])


def leaf_keys(stage: str, leaf: str) -> list[str]:
    """The dotted keys named `leaf` anywhere in a stage's config (`progress`: train.progress,
    setfit.train.progress, ...; `threads`: train.threads, measure.threads, ...)."""
    from pydantic import BaseModel

    from rawtune.config.base import STAGES

    def walk(cls: type[BaseModel], prefix: str) -> list[str]:
        out = []
        for name, f in cls.model_fields.items():
            t = f.annotation
            if name == leaf:
                out.append(prefix + name)
            elif isinstance(t, type) and issubclass(t, BaseModel):
                out += walk(t, f"{prefix}{name}.")
        return out

    return walk(STAGES.get(stage), "")


def set_handler(p: argparse.ArgumentParser, handler: Callable[..., int], **defaults: Any) -> None:
    """The command's handler, and the flags its parser declares: anything else on the command line
    must be a dotted `--a.b=value` config override (`split_overrides`)."""
    known = [a for act in p._actions for a in act.option_strings]
    p.set_defaults(handler=handler, known_flags=known, **defaults)


def collect_overrides(
    args: argparse.Namespace, extra: list[str], shortcuts: dict[str, str], stage: str | None = None
) -> dict[str, Any]:
    """The config keys set on the command line: named flags (`shortcuts`: flag dest -> config key),
    dotted overrides, `--no-progress` (every progress key of `stage`'s config) and `--threads` (every
    threads key)."""
    values = {
        key: getattr(args, dest) for dest, key in shortcuts.items() if getattr(args, dest, None) is not None
    }
    values.update(parse_all(split_overrides(extra, args.known_flags)))
    if stage is not None and getattr(args, "no_progress", False):
        for key in leaf_keys(stage, "progress"):
            values.setdefault(key, False)
    if stage is not None and getattr(args, "threads", None) is not None:
        for key in leaf_keys(stage, "threads"):
            values.setdefault(key, args.threads)
    return values


def stage_config(stage: str, args: argparse.Namespace, extra: list[str], shortcuts: dict[str, str]) -> Any:
    """The stage's config: --config's file, then the command line's keys over it."""
    from rawtune.config.loader import load_config

    return load_config(stage, file=args.config, overrides=collect_overrides(args, extra, shortcuts, stage))
