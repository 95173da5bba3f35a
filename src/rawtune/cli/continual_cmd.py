"""`rawtune continual`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

from __future__ import annotations

import argparse
import json

from rawtune.cli.overrides import (
    add_config_flag,
    add_progress_flag,
    add_resume_flag,
    add_threads_flag,
    set_handler,
    stage_config,
)

SHORTCUTS = {
    "previous": "previous",
    "new_data": "data.new",
    "dev": "data.dev",
    "old_dev": "data.old_dev",
    "new_raw": "data.new_raw",
    "old_raw": "data.old_raw",
    "output": "output",
    "max_forgetting": "max_forgetting",
    "if_new": "if_new",
    "name": "name",
    "promote": "promote",
    "regularize": "regularize.method",
    "replay": "replay.ratio",
    "seed": "seed",
    "epochs": "train.epochs",
    "lr": "train.lr",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "continual",
        help="re-fine-tune a model on new labeled data without forgetting; a forgetting report and gate",
        description="Continue a finetune (or continual) run on new labeled data: earlier examples are "
        "replayed, the head grows for new labels, weights can be held near the previous ones (EWC, "
        "L2-SP), and every earlier evaluation set is scored before and after. RUN/metrics.json holds "
        "the forgetting; with --max-forgetting a larger drop fails the gate (exit 4).",
        epilog="Any config key is a flag too: --replay.memory=10000 --regularize.strength=10 "
        "--train.epochs=2. See 'rawtune config show continual'.",
    )
    p.add_argument("previous", nargs="?", metavar="RUN", help="the run to continue from")
    add_config_flag(p)
    p.add_argument("--new-data", dest="new_data", metavar="FILE", help="the new labeled data")
    p.add_argument("--dev", metavar="FILE", help="evaluation data for the new data")
    p.add_argument(
        "--old-dev",
        dest="old_dev",
        metavar="FILE",
        action="append",
        help="an earlier evaluation set (repeatable; default: the lineage's dev sets)",
    )
    p.add_argument(
        "--new-raw",
        dest="new_raw",
        metavar="PATH",
        action="append",
        help="raw text of the new domain: continued masked-LM training first (repeatable; run at OUTPUT-mlm)",
    )
    p.add_argument(
        "--old-raw",
        dest="old_raw",
        metavar="PATH",
        action="append",
        help="earlier unlabeled inputs: the previous model labels them and replay draws from those "
        "(repeatable; for when the earlier training data is gone)",
    )
    p.add_argument("--output", metavar="DIR", help="run directory to create")
    p.add_argument("--replay", type=float, metavar="RATIO", help="earlier examples per new one (default 1.0)")
    p.add_argument("--regularize", metavar="none|ewc|l2sp", help="penalty toward the previous weights")
    p.add_argument(
        "--max-forgetting",
        dest="max_forgetting",
        type=float,
        metavar="POINTS",
        help="gate: fail (exit 4) when an earlier set drops more than this many points",
    )
    p.add_argument(
        "--if-new", dest="if_new", action="store_true", default=None, help="no-op if data.new was used"
    )
    p.add_argument("--name", metavar="NAME", help="register the run as a new version of NAME (candidate)")
    p.add_argument(
        "--promote", action="store_true", default=None, help="with --name: promote if the gate passes"
    )
    p.add_argument("--seed", type=int, help="random seed of the run")
    p.add_argument("--epochs", type=float, help="passes over the training data (train.epochs)")
    p.add_argument("--lr", type=float, help="peak learning rate (train.lr)")
    add_resume_flag(p, "continue an interrupted run in --output")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.stages.continual import GATE_FAILED, run_continual

    cfg = stage_config("continual", args, extra, SHORTCUTS)
    result = run_continual(cfg, resume=args.resume)
    if result is None:
        print(f"no new data: {cfg.data.new} was already used; nothing to do")
        return 0
    metrics = json.loads(result.run.metrics_json.read_text())
    for s in metrics["forgetting"]["sets"]:
        print(
            f"{s['kind']} {s['file']}: {metrics['forgetting']['metric']} {s['before']:.4f} -> {s['after']:.4f}"
        )
    print(f"forgetting: {metrics['forgetting']['forgetting_points']:.2f} points")
    if result.version is not None:
        print(f"registered {result.version.name} version {result.version.version} ({result.version.status})")
    print(result.run.path)
    gate = metrics.get("gate")
    if gate and not gate["passed"]:
        print(
            f"gate failed: forgot {gate['forgetting']:.2f} points > max {gate['max_forgetting']:.2f}; not promoted"
        )
        return GATE_FAILED
    return 0
