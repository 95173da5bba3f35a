"""`rawtune evaluate RUN --data FILE`."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a fine-tuned run on a labeled file (report + plots)",
        description="Evaluate RUN's model on a labeled file; writes RUN/eval/NAME/report.{json,md} and plots.",
    )
    p.add_argument(
        "run", metavar="RUN", help="a finished rawtune finetune run directory (or its `export --onnx` dir)"
    )
    p.add_argument("--data", required=True, metavar="FILE", help="labeled data in the run's format")
    p.add_argument("--name", help="report name (default: the file name)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=32)
    p.add_argument(
        "--null-threshold",
        dest="null_threshold",
        type=float,
        default=None,
        help="SQuAD v2 runs: the no-answer threshold to decide with (e.g. a dev report's best_f1_thresh)",
    )
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import UnknownFlags
    from rawtune.stages.evaluate import evaluate_run

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    _metrics, out = evaluate_run(
        args.run, args.data, name=args.name, batch_size=args.batch_size, null_threshold=args.null_threshold
    )
    print((out / "report.md").read_text())
    print(out)
    return 0
