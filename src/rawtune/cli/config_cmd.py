"""`rawtune config show|validate [STAGE] [--config YAML] [--a.b=v ...]`, and the pipeline presets:
`rawtune config list`, `rawtune config init NAME [--output FILE]`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="show or validate a resolved config; list and write pipeline presets",
        description="show|validate [STAGE]: the resolved config of a stage command (pretrain, "
        "finetune, compress, augment, fewshot, hpo, zeroshot, continual, selftrain). list: the packaged pipeline presets. init NAME: write a preset (stdout or --output) "
        "to edit and run with `rawtune run`.",
    )
    p.add_argument("action", choices=["show", "validate", "list", "init"], help="what to do")
    p.add_argument(
        "stage",
        nargs="?",
        help="show/validate: command the config is for (default: the file's 'stage' key); init: preset",
    )
    p.add_argument("--config", metavar="YAML", help="show/validate: the YAML config to resolve")
    p.add_argument("--output", metavar="FILE", help="init: write the preset here instead of stdout")
    p.set_defaults(handler=handle, known_flags=["--config", "--output"])


def _presets(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rawtune.errors import RawtuneError
    from rawtune.pipeline import presets

    if args.action == "list":
        rows = presets.describe()
        width = max(len(name) for name, _, _ in rows)
        for name, description, stages in rows:
            print(f"{name:<{width}}  {description}\n{'':<{width}}  stages: {' -> '.join(stages)}")
        return 0
    if not args.stage:
        raise RawtuneError(f"config init: name a preset: {', '.join(presets.names())}")
    text = presets.text(args.stage)
    if args.output is None:
        print(text, end="")
        return 0
    out = Path(args.output)
    if out.exists():
        raise RawtuneError(f"{out} exists; choose another --output or remove it")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: edit it, then `rawtune run {out} --dry-run` and `rawtune run {out}`")
    return 0


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    if args.action in ("list", "init"):
        from rawtune.cli.overrides import UnknownFlags

        if extra:
            raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
        return _presets(args)
    import yaml

    from rawtune.cli.overrides import parse_all, split_overrides
    from rawtune.config.base import STAGES
    from rawtune.config.loader import dump_config, load_config
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
