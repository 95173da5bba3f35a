"""`rawtune export RUN --output DIR [--merge | --onnx [--quantize int8] [--opset N]]`."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a run's model (or its adapter merged into the base) as a plain save_pretrained dir",
        description="Copy RUN's model/ (or adapter/) to DIR; with --merge, fold a LoRA/IA3 adapter into the "
        "base weights (outputs checked equal to the adapter model's) and write a plain model; with --onnx, "
        "write DIR/model.onnx (dynamic batch and sequence axes) with the tokenizer and config, checked "
        "against PyTorch within 1e-4 on fresh shapes. `rawtune predict` and `evaluate` take DIR.",
    )
    p.add_argument("run", metavar="RUN", help="the run directory to export")
    p.add_argument("--output", required=True, metavar="DIR", help="directory to write")
    p.add_argument("--merge", action="store_true", help="merge a LoRA/IA3 adapter into the base weights")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="export to ONNX (an adapter run: its merged model, or base + adapter where it cannot merge)",
    )
    p.add_argument(
        "--quantize",
        choices=["int8"],
        help="with --onnx: also write model.int8.onnx (dynamic int8 weights) and make it the model",
    )
    p.add_argument("--opset", type=int, metavar="N", help="with --onnx: ONNX opset (default: torch's)")
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import UnknownFlags
    from rawtune.stages.export import export_run

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    info = export_run(
        args.run, args.output, merge=args.merge, onnx=args.onnx, quantize=args.quantize, opset=args.opset
    )
    print(info["output"])
    return 0
