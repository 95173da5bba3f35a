"""`rawtune serve RUN [RUN ...] [--name NAME=RUN ...]`: the HTTP server (extra `serve`)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from rawtune.cli.overrides import set_handler

if TYPE_CHECKING:
    from rawtune.config.serve import ServeConfig

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# flag -> (ServeConfig field, type); help texts and defaults come from ServeConfig (_SchemaHelp)
FLAGS: list[tuple[str, str, type]] = [
    ("--host", "host", str),
    ("--port", "port", int),
    ("--api-key-file", "api_key_file", str),
    ("--device", "device", str),
    ("--max-batch-size", "max_batch_size", int),
    ("--max-wait-ms", "max_wait_ms", float),
    ("--workers", "workers", int),
    ("--max-body-bytes", "max_body_bytes", int),
    ("--max-texts", "max_texts", int),
    ("--max-chars", "max_chars", int),
    ("--max-concurrency", "max_concurrency", int),
    ("--retry-after", "retry_after_s", int),
    ("--timeout", "timeout_s", float),
    ("--drain-timeout", "drain_timeout_s", float),
    ("--log-level", "log_level", str),
    ("--backend", "backend", str),
    ("--dtype", "dtype", str),
]


class _SchemaHelp(argparse.HelpFormatter):
    """Each flag's help is its ServeConfig field's description and default, looked up only when help
    is printed (so `rawtune --help` stays free of pydantic)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        from rawtune.config.serve import ServeConfig

        field = ServeConfig.model_fields.get(action.dest)
        if field is None or action.dest == "runs":
            return action.help
        text = (field.description or action.dest.replace("_", " ")).rstrip(".")
        if field.default not in (None, False):
            text += f" (default {field.default})"
        return text.replace("%", "%%")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve fine-tuned runs over HTTP (micro-batched, with limits and an API key)",
        description="Serve RUN(s) over HTTP: POST /v1/models/NAME/predict, GET /v1/models, /healthz, "
        "/readyz, /metrics, /openapi.json. A run is named after its directory unless given with "
        "--name NAME=RUN. Needs the `serve` extra: pip install 'rawtune[serve]'.",
        formatter_class=_SchemaHelp,
    )
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="finished run directories (or `export --onnx` dirs), or models:/NAME[/N] versions in the model store",
    )
    p.add_argument(
        "--name",
        dest="named",
        action="append",
        default=[],
        metavar="NAME=RUN",
        help="serve RUN as NAME (repeatable)",
    )
    for flag, field, kind in FLAGS:
        p.add_argument(flag, dest=field, type=kind, default=None, help=field)
    p.add_argument("--merged", action="store_true", default=None, help="merged")
    set_handler(p, handle)


def model_table(runs: list[str], named: list[str]) -> dict[str, str]:
    """{name: run}: positional runs by their directory's name, then NAME=RUN pairs; names must be
    URL-safe and unique."""
    from pathlib import Path

    from rawtune.errors import ConfigError, ConfigIssue

    table: dict[str, str] = {}
    issues = []
    pairs = [(Path(r.rstrip("/\\")).name or r, r, "RUN") for r in runs]
    for spec in named:
        name, eq, run = spec.partition("=")
        if not eq or not run:
            issues.append(
                ConfigIssue("name", f"expected NAME=RUN, got {spec!r}", file="command line (--name)")
            )
            continue
        pairs.append((name, run, "--name"))
    for name, run, where in pairs:
        if not NAME.match(name):
            issues.append(
                ConfigIssue(
                    "name",
                    f"{name!r} ({run}) is not a usable model name: letters, digits, '.', '_', '-' "
                    f"(64 at most); name it with --name NAME=RUN",
                    file=f"command line ({where})",
                )
            )
        elif name in table:
            issues.append(
                ConfigIssue(
                    "name",
                    f"two runs named {name!r} ({table[name]} and {run}); name one with --name NAME=RUN",
                    file=f"command line ({where})",
                )
            )
        else:
            table[name] = run
    if not pairs:
        issues.append(ConfigIssue("runs", "give at least one RUN (or --name NAME=RUN)", file="command line"))
    if issues:
        raise ConfigError(issues)
    return table


def settings_from(args: argparse.Namespace) -> ServeConfig:
    """A ServeConfig from the flags that were given (the rest are its defaults)."""
    from pydantic import ValidationError

    from rawtune.config.serve import ServeConfig
    from rawtune.errors import ConfigError, ConfigIssue

    given = {field: getattr(args, field) for _, field, _ in FLAGS if getattr(args, field) is not None}
    if args.merged:
        given["merged"] = True
    flag_of = {field: flag for flag, field, _ in FLAGS}
    try:
        return ServeConfig(**given)
    except ValidationError as e:
        issues = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else "-"
            where = f"command line ({flag_of.get(field, field)})"
            issues.append(ConfigIssue(field, err["msg"], file=where))
        raise ConfigError(issues) from None


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import UnknownFlags

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    from rawtune.versions.refs import named_runs

    table = model_table(*named_runs(args.runs, args.named))  # models:/NAME[/N] served as NAME
    settings = settings_from(args)
    from rawtune.serve.server import serve

    return serve(table, settings)
