"""`rawtune compress PARENT --output RUN (--quantize int8 | --onnx [--quantize int8] | --distill [--student-layers N] |
--prune SPEC [--recover-epochs E]) [--max-metric-drop X] [--min-speedup Y] [--resume]`."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import (
    add_config_flag,
    add_progress_flag,
    add_resume_flag,
    add_threads_flag,
    set_handler,
    stage_config,
)

SHORTCUTS = {
    "parent": "parent",
    "output": "output",
    "quantize": "quantize",
    "onnx": "onnx",
    "keep_fp32": "keep_fp32",
    "dev": "dev",
    "max_metric_drop": "gate.max_metric_drop",
    "min_speedup": "gate.min_speedup",
    "distill": "distill.enabled",
    "student_layers": "distill.student_layers",
    "student": "distill.student",
    "temperature": "distill.temperature",
    "raw_text": "distill.raw_text",
    "prune": "prune.spec",
    "recover_epochs": "prune.recover_epochs",
    "epochs": "train.epochs",
    "lr": "train.lr",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress",
        help="compress a fine-tuned run (int8, distillation, pruning) and gate it on accuracy and speed",
        description="Write a compressed copy of PARENT (a finished fine-tuning run): int8 weights, a "
        "smaller student distilled from it, or a pruned model; measure it next to "
        "PARENT (dev metric, size, CPU latency at batch 1, throughput at batch 32) and accept it only "
        "within --max-metric-drop and above --min-speedup (exit code 4 otherwise).",
        epilog="Any config key is a flag too: --measure.repeats=5. See 'rawtune config show compress'.",
    )
    p.add_argument("parent", metavar="PARENT", nargs="?", help="the fine-tuned run to compress")
    add_config_flag(p)
    p.add_argument("--output", metavar="DIR", help="run directory to create")
    p.add_argument("--quantize", metavar="int8", help="dynamic int8 quantization of the linear layers")
    p.add_argument(
        "--keep-fp32",
        dest="keep_fp32",
        action="append",
        metavar="REGEX",
        help="with --quantize int8: leave linear layers matching REGEX in fp32 (repeatable)",
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        default=None,
        help="export to ONNX (with --quantize int8: onnxruntime int8) and gate the export",
    )
    p.add_argument("--distill", action="store_true", default=None, help="distil into a smaller student")
    p.add_argument(
        "--student-layers",
        dest="student_layers",
        type=int,
        metavar="N",
        help="student = the teacher with N of its layers (default: half)",
    )
    p.add_argument("--student", metavar="MODEL", help="student = this smaller backbone, with a new head")
    p.add_argument("--temperature", type=float, metavar="T", help="distillation temperature (default 2)")
    p.add_argument(
        "--raw-text",
        dest="raw_text",
        metavar="FILE",
        help="also distil on unlabeled text (one example per line), labeled by the teacher",
    )
    p.add_argument(
        "--prune",
        metavar="SPEC",
        help="heads:0.3, ffn:0.2, layers:1, magnitude:0.5 (comma-separated to combine)",
    )
    p.add_argument(
        "--recover-epochs",
        dest="recover_epochs",
        type=float,
        metavar="E",
        help="fine-tune after pruning for E epochs (default 0)",
    )
    p.add_argument("--epochs", type=float, help="distillation epochs (train.epochs)")
    p.add_argument("--lr", type=float, help="distillation / recovery learning rate (train.lr)")
    add_resume_flag(p, "continue an interrupted distillation or recovery run")
    _gate_flags(p)
    add_progress_flag(p)
    set_handler(p, handle)


def _gate_flags(p: argparse.ArgumentParser) -> None:
    """What the compressed model is measured on and the gate it must pass."""
    p.add_argument("--dev", metavar="FILE", help="labeled data for the metric (default: PARENT's dev)")
    p.add_argument(
        "--max-metric-drop",
        dest="max_metric_drop",
        type=float,
        metavar="POINTS",
        help="gate: reject when the dev metric drops more than this many points",
    )
    p.add_argument(
        "--min-speedup", dest="min_speedup", type=float, metavar="X", help="gate: reject a speed-up below X"
    )
    add_threads_flag(p)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.stages.compress import compress_run

    cfg = stage_config("compress", args, extra, SHORTCUTS)
    run, summary = compress_run(cfg, resume=args.resume)
    gate = summary["gate"]
    print(
        f"{gate['metric']} drop {gate['metric_drop_points']:+.2f} points, batch-1 speedup {gate['speedup']:.2f}x, "
        f"{summary['size']['parent']['mb']:.1f} -> {summary['size']['compressed']['mb']:.1f} MB"
    )
    print(run.path)
    return 0
