"""`rawtune run PIPELINE.yaml`: every stage of a pipeline, reusing the ones already done."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a pipeline file: prepare, pretrain, fine-tune, evaluate, compress, export, serve",
        description="Runs the stages of PIPELINE in order, each into OUTPUT/<stage>/. A stage whose "
        "fingerprint (resolved config, input files, upstream stages, rawtune version) matches its "
        "completed run is skipped; one that failed resumes from its last checkpoint. Any stage key is "
        "a flag: --STAGE.train.lr=5e-5. Presets: `rawtune config list`.",
    )
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline YAML (see `rawtune config init NAME`)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (what runs, what is reused, why)")
    p.add_argument("--output", metavar="DIR", help="pipeline output directory (default: the file's `output`)")
    p.add_argument("--no-serve", dest="serve", action="store_false", help="do not start a serve stage")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import parse_all, split_overrides
    from rawtune.logs import setup_logging
    from rawtune.pipeline import Pipeline, format_plan

    overrides = parse_all(split_overrides(extra, args.known_flags, dashes_to_underscores=False))
    if args.output:
        overrides["output"] = args.output
    pipe = Pipeline.load(args.pipeline, overrides)
    if args.dry_run:
        print(format_plan(pipe, pipe.plan()))
        return 0
    setup_logging()
    state = pipe.run(serve=args.serve, progress=args.progress)
    print(summary(pipe, state))
    return 0


def summary(pipe, state: dict) -> str:
    lines = [f"pipeline {state['name']}: {state['status']} ({pipe.root})"]
    for s in state["stages"]:
        secs = f"{s['seconds']:.0f}s" if s.get("seconds") is not None else ""
        shown = "skipped (complete)" if s["skipped"] else s["status"]
        lines.append(
            f"  {s['name']:<18} {s['kind']:<14} {shown:<20} {secs:>6}  {_headline(pipe.root / s['run'])}"
        )
    report = pipe.root / "report.html"
    if report.is_file():
        lines.append(f"report: {report}")
    return "\n".join(lines)


def _headline(run) -> str:
    """The run's main number: dev metric of a task run, eval loss / perplexity of a pretraining run."""
    import json

    try:
        m = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError):
        return ""
    if isinstance(m.get("dev"), dict):
        key = (m.get("selected_by") or {}).get("metric") or next(
            (k for k in ("f1", "accuracy", "macro_f1") if k in m["dev"]), None
        )
        value = m["dev"].get(key)
        if isinstance(value, (int, float)):
            return f"dev {key} {value:.4f}"
    for key in ("perplexity", "eval_loss"):
        for part in (m, m.get("eval") or {}, m.get("after") or {}):
            if isinstance(part, dict) and isinstance(part.get(key), (int, float)):
                return f"{key} {part[key]:.3f}"
    return ""
