"""`rawtune hpo`: fine-tuning flags (and --config, a fine-tuning YAML) build the config every trial
starts from; the search's own options are named flags. A resolved OUTPUT/config.yaml (stage: hpo)
is accepted by --config too, so feeding it back reproduces the study."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import add_progress_flag, add_resume_flag, add_threads_flag, set_handler

FINETUNE_SHORTCUTS = {
    "task": "task.name",
    "model": "model.name_or_path",
    "train": "data.train",
    "dev": "data.dev",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "method": "tuning.method",
}
HPO_SHORTCUTS = {
    "space": "space",
    "trials": "trials",
    "output": "output",
    "metric": "metric",
    "sampler": "sampler",
    "pruner": "pruner",
    "timeout": "timeout",
    "storage": "storage",
    "study_name": "study_name",
    "seed": "seed",
    "startup_trials": "startup_trials",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hpo",
        help="search fine-tuning hyperparameters with Optuna (trials pruned on the dev metric)",
        description="Run an Optuna study over fine-tuning config keys: each trial is a fine-tuning run "
        "in OUTPUT/trial-N, reporting its dev metric at every evaluation so that lagging trials are "
        "pruned. Writes OUTPUT/trials.csv, best.yaml, metrics.json and report.md.",
        epilog="Other --SECTION.KEY=VALUE flags set the fine-tuning config the trials start from "
        "(--train.eval_steps=50). Space file: 'train.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}'.",
    )
    p.add_argument(
        "--config", metavar="YAML", help="fine-tuning config the trials start from (or an hpo config)"
    )
    p.add_argument("--space", metavar="YAML", help="the search space: config keys -> ranges")
    p.add_argument("--trials", type=int, metavar="N", help="trials to finish (default 20)")
    p.add_argument("--output", metavar="DIR", help="study directory to create")
    p.add_argument("--task", metavar="ner|classification|pairs", help="the task of every trial")
    p.add_argument("--model", metavar="ID|DIR|RUN", help="hub id, save_pretrained dir, or a rawtune run dir")
    p.add_argument("--train", metavar="FILE", help="training data")
    p.add_argument("--dev", metavar="FILE", help="the data the metric is measured on (required)")
    p.add_argument("--method", metavar="TUNING", help="tuning method of every trial (full, lora, ...)")
    p.add_argument("--text-column", dest="text_column", metavar="NAME", help="csv/jsonl: the text column")
    p.add_argument("--label-column", dest="label_column", metavar="NAME", help="csv/jsonl: the label column")
    p.add_argument("--metric", help="dev metric to optimise (default: the task's)")
    p.add_argument("--sampler", metavar="tpe|random", help="how trials are drawn (default tpe)")
    p.add_argument(
        "--pruner", metavar="median|successive_halving|none", help="how poor trials are stopped early"
    )
    p.add_argument(
        "--startup-trials",
        dest="startup_trials",
        type=int,
        metavar="N",
        help="random trials before the sampler",
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="start no trial after this long")
    p.add_argument("--storage", metavar="URL", help="shared Optuna storage for several workers")
    p.add_argument("--study-name", dest="study_name", metavar="NAME", help="the optuna study's name")
    p.add_argument("--seed", type=int, help="sampler seed (default 42)")
    add_resume_flag(p, "continue the study in --output")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def _picked(args: argparse.Namespace, shortcuts: dict[str, str]) -> dict:
    return {
        key: getattr(args, dest) for dest, key in shortcuts.items() if getattr(args, dest, None) is not None
    }


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    import yaml

    from rawtune.cli.overrides import parse_all, split_overrides
    from rawtune.config.loader import load_config
    from rawtune.hpo.study import run_hpo

    flags = parse_all(split_overrides(extra, args.known_flags))
    ft_flags = {**_picked(args, FINETUNE_SHORTCUTS), **flags}
    if args.no_progress:
        ft_flags.setdefault("train.progress", False)
    is_hpo = False
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            head = yaml.safe_load(f)
        is_hpo = isinstance(head, dict) and head.get("stage") == "hpo"
    if is_hpo:
        over = {**_picked(args, HPO_SHORTCUTS), **{f"finetune.{k}": v for k, v in ft_flags.items()}}
        cfg = load_config("hpo", file=args.config, overrides=over)
    else:
        ft = load_config("finetune", file=args.config, overrides=ft_flags, require=False)
        cfg = load_config("hpo", base={"finetune": ft.model_dump()}, overrides=_picked(args, HPO_SHORTCUTS))
    summary = run_hpo(cfg, resume=args.resume)
    t = summary["trials"]
    print(f"{t['complete']} complete, {t['pruned']} pruned, {t['fail']} failed")
    if "best" in summary:
        b = summary["best"]
        print(f"best: trial {b['trial']}, dev {summary['metric']} {b['value']:.4f}: {b['params']}")
        print(f"{cfg.output}/best.yaml")
    return 0
