"""`rawtune report RUN [RUN ...] [--output FILE]`."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run, a comparison of runs, or a pipeline",
        description="One RUN: RUN/report.html (config, data statistics, training curves, evaluation "
        "tables, compression comparison, model card). A pipeline root (with pipeline.json): ROOT/report.html "
        "and each stage's own report. Several RUNs: one comparison page (--output, default "
        "./rawtune-report.html). The file needs no network: styles and charts are inline.",
    )
    p.add_argument("runs", metavar="RUN", nargs="+", help="run directories or a pipeline root")
    p.add_argument(
        "--output", metavar="FILE", help="where to write (several runs: default ./rawtune-report.html)"
    )
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import UnknownFlags
    from rawtune.reporting import build_report

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    print(build_report(args.runs, args.output))
    return 0
