"""`rawtune evaluate RUN --data FILE`."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import add_threads_flag, renamed_flag, set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a run on a labeled file (report + plots)",
        description="Evaluate RUN's model on a labeled file with the decode path predict and serve use; "
        "writes RUN/eval/NAME/report.{json,md} and plots (or --output DIR/NAME).",
    )
    p.add_argument(
        "run",
        metavar="RUN",
        help="a finished run of any kind (as for `rawtune predict`: finetune, compress, fewshot seed, "
        "zeroshot, an `export --onnx` dir), a save_pretrained model with a task head, a Hugging Face "
        "Hub id, or models:/NAME[/N|/latest]",
    )
    p.add_argument("--data", required=True, metavar="FILE", help="labeled data in the run's format")
    p.add_argument(
        "--report-name", dest="report_name", metavar="NAME", help="report name (default: the file name)"
    )
    renamed_flag(p, "--name", "--report-name", "--name is a model's name (serve, continual, models)")
    add_threads_flag(p)
    p.add_argument(
        "--output",
        metavar="DIR",
        default=None,
        help="write the report to DIR/NAME (default: RUN/eval/NAME; a Hugging Face Hub id: ./eval/NAME)",
    )
    p.add_argument("--batch-size", dest="batch_size", type=int, default=32, help="inputs per forward pass")
    p.add_argument(
        "--null-threshold",
        dest="null_threshold",
        type=float,
        default=None,
        help="SQuAD v2 runs: the no-answer threshold to decide with (e.g. a dev report's best_f1_thresh)",
    )
    p.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="cast the weights as `rawtune predict --dtype` does (default auto: the precision predict uses)",
    )
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from pathlib import Path

    from rawtune.cli.overrides import UnknownFlags
    from rawtune.stages.evaluate import evaluate_run
    from rawtune.versions import resolve_model_ref

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    _metrics, out = evaluate_run(
        resolve_model_ref(args.run),
        args.data,
        name=args.report_name,
        batch_size=args.batch_size,
        null_threshold=args.null_threshold,
        dtype=args.dtype,
        out_root=Path(args.output) if args.output else None,
    )
    print((out / "report.md").read_text())
    print(out)
    return 0
