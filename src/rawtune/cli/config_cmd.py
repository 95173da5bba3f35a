"""`rawtune config show|validate [STAGE] [--config YAML] [--a.b=v ...]`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show or validate a resolved config for any command")
    p.add_argument("action", choices=["show", "validate"])
    p.add_argument("stage", nargs="?", help="command the config is for (default: the file's 'stage' key)")
    p.add_argument("--config", metavar="YAML")
    p.set_defaults(handler=handle, known_flags=["--config"])


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    import yaml

    from rawtune.cli.overrides import parse_all, split_overrides
    from rawtune.config.loader import dump_config, load_config
    from rawtune.config.schema import STAGES
    from rawtune.errors import RawtuneError

    stage = args.stage
    if stage is None and args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                stage = (yaml.safe_load(f) or {}).get("stage")
        except (OSError, yaml.YAMLError, AttributeError):
            stage = None  # load_config below reports the file problem with its line
    stage = stage or "pretrain"
    if stage not in STAGES:
        raise RawtuneError(f"unknown stage '{stage}'; known: {', '.join(STAGES)}")
    cfg = load_config(
        stage,
        file=args.config,
        overrides=parse_all(split_overrides(extra, args.known_flags)),
        require=args.action == "validate",
    )
    print(dump_config(cfg) if args.action == "show" else f"ok: valid {stage} config", end="")
    if args.action == "validate":
        print()
    return 0
