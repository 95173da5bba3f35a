"""`rawtune compress PARENT --quantize int8 --output RUN [--max-metric-drop X] [--min-speedup Y]`."""

from __future__ import annotations

import argparse

from rawtune.cli.pretrain_cmd import collect_overrides

SHORTCUTS = {
    "parent": "parent",
    "output": "output",
    "quantize": "quantize",
    "dev": "dev",
    "max_metric_drop": "gate.max_metric_drop",
    "min_speedup": "gate.min_speedup",
    "threads": "measure.threads",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress",
        help="compress a fine-tuned run (int8) and gate it on accuracy and speed",
        description="Write a compressed copy of PARENT (a finished fine-tuning run), measure it next to "
        "PARENT (dev metric, size, CPU latency at batch 1, throughput at batch 32) and accept it only "
        "within --max-metric-drop and above --min-speedup (exit code 4 otherwise).",
        epilog="Any config key is a flag too: --measure.repeats=5. See 'rawtune config show compress'.",
    )
    p.add_argument("parent", metavar="PARENT", nargs="?", help="the fine-tuned run to compress")
    p.add_argument("--config", metavar="YAML", help="config file (flags override it)")
    p.add_argument("--output", metavar="DIR", help="run directory to create")
    p.add_argument("--quantize", metavar="int8", help="dynamic int8 quantization of the linear layers")
    p.add_argument("--dev", metavar="FILE", help="labeled data for the metric (default: PARENT's dev)")
    p.add_argument("--max-metric-drop", dest="max_metric_drop", type=float, metavar="POINTS")
    p.add_argument("--min-speedup", dest="min_speedup", type=float, metavar="X")
    p.add_argument("--threads", type=int, help="torch CPU threads while timing")
    p.set_defaults(handler=handle, known_flags=[a for act in p._actions for a in act.option_strings])


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.config.loader import load_config
    from rawtune.stages.compress import compress_run

    cfg = load_config("compress", file=args.config, overrides=collect_overrides(args, extra, SHORTCUTS))
    run, summary = compress_run(cfg)
    gate = summary["gate"]
    print(
        f"{gate['metric']} drop {gate['metric_drop_points']:+.2f} points, batch-1 speedup {gate['speedup']:.2f}x, "
        f"{summary['size']['parent']['mb']:.1f} -> {summary['size']['compressed']['mb']:.1f} MB"
    )
    print(run.path)
    return 0
