"""`rawtune` entry point: builds the argparse tree; each command's handler imports what it needs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rawtune._version import __version__
from rawtune.cli import (
    augment_cmd,
    compress_cmd,
    config_cmd,
    continual_cmd,
    doctor_cmd,
    evaluate_cmd,
    export_cmd,
    fewshot_cmd,
    finetune_cmd,
    hpo_cmd,
    models_cmd,
    predict_cmd,
    pretrain_cmd,
    quickstart_cmd,
    report_cmd,
    run_cmd,
    selftrain_cmd,
    serve_cmd,
    tokenizer_cmd,
    zeroshot_cmd,
)

COMMANDS: list[tuple[str, Callable[[argparse._SubParsersAction], None]]] = [
    ("quickstart", quickstart_cmd.register),
    ("run", run_cmd.register),
    ("pretrain", pretrain_cmd.register),
    ("finetune", finetune_cmd.register),
    ("fewshot", fewshot_cmd.register),
    ("continual", continual_cmd.register),
    ("augment", augment_cmd.register),
    ("selftrain", selftrain_cmd.register),
    ("hpo", hpo_cmd.register),
    ("evaluate", evaluate_cmd.register),
    ("predict", predict_cmd.register),
    ("serve", serve_cmd.register),
    ("export", export_cmd.register),
    ("compress", compress_cmd.register),
    ("report", report_cmd.register),
    ("doctor", doctor_cmd.register),
    ("models", models_cmd.register),
    ("tokenizer", tokenizer_cmd.register),
    ("config", config_cmd.register),
    ("zeroshot", zeroshot_cmd.register),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rawtune",
        description="Self-supervised learning on raw text, then fine-tuning: pretrain, fine-tune, evaluate, predict, serve.",
        epilog="Every config key is also a flag: --train.max_steps=2000 --objective.whole_word=true. "
        "Run 'rawtune COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rawtune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, register in COMMANDS:
        register(sub)
    return parser


def _set_threads(n: int) -> None:
    """`--threads N`, the same in every command that has it: torch's CPU threads for the whole process
    (stage commands also write it into every threads key of their config; see collect_overrides)."""
    from rawtune.errors import ConfigError, ConfigIssue

    if n < 1:
        raise ConfigError([ConfigIssue("--threads", f"must be at least 1, not {n}", file="command line")])
    import torch

    torch.set_num_threads(n)


def main(argv: list[str] | None = None) -> int:
    from rawtune.cli.overrides import UnknownFlags, refuse_renamed
    from rawtune.errors import RawtuneError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        refuse_renamed(args)
        if getattr(args, "threads", None) is not None:
            _set_threads(args.threads)
        return int(args.handler(args, extra) or 0)
    except UnknownFlags as e:
        print(f"rawtune {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RawtuneError as e:
        print(f"rawtune {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("rawtune: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        from rawtune.runs.atomic import STORAGE_ERRNOS

        if e.errno not in STORAGE_ERRNOS:
            raise
        # the machine's fault, not a bug: one line naming the file (the run is marked failed and
        # resumes from its last complete checkpoint once there is room)
        where = f"cannot write {e.filename}: " if e.filename else ""
        print(f"rawtune {args.command}: error: {where}{e.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
