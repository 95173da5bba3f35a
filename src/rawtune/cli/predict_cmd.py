"""`rawtune predict RUN --input FILE --output FILE`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a fine-tuned run (text, CoNLL, JSONL, CSV) to JSON lines",
        description="Stream INPUT through RUN's model. Plain text (.txt): one sentence or document per "
        "line; NER splits words and returns entities with character offsets.",
    )
    p.add_argument(
        "run", metavar="RUN", help="a finished rawtune finetune run directory (or its `export --onnx` dir)"
    )
    p.add_argument("--input", required=True, metavar="FILE")
    p.add_argument("--output", required=True, metavar="FILE", help="JSON lines, one record per input")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=32)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(handler=handle, known_flags=[a for act in p._actions for a in act.option_strings])


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    import sys

    from rawtune.cli.overrides import UnknownFlags
    from rawtune.serve.predictor import Predictor

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    pred = Predictor.from_run(args.run)  # a run, or an ONNX export dir
    n = pred.predict_file(args.input, args.output, batch_size=args.batch_size, progress=args.progress)
    print(f"{n} predictions -> {args.output}", file=sys.stderr)
    return 0
