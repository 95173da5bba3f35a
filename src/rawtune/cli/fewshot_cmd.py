"""`rawtune fewshot`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import (
    add_config_flag,
    add_progress_flag,
    add_threads_flag,
    renamed_flag,
    set_handler,
    stage_config,
)

SHORTCUTS = {
    "model": "model.name_or_path",
    "train": "data.train",
    "dev": "data.dev",
    "test": "data.test",
    "output": "output",
    "shots": "shots",
    "n_seeds": "seeds",
    "seed": "seed",
    "learner": "method",
    "task": "task",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "descriptions": "descriptions",
    "min_steps": "min_steps",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fewshot",
        help="few-shot classification or NER: k examples per class (sentences per type), mean ± std over seeds",
        description="Draw k examples per class from a pool (per seed), train on them by SetFit-style "
        "contrastive fine-tuning plus a logistic-regression head (setfit) or by plain fine-tuning of a "
        "classification head (finetune), and score the dev set. One run per seed in OUTPUT/seed-N; "
        "OUTPUT/metrics.json holds the mean, std and per-seed values and the lines drawn.",
        epilog="Any config key is a flag too: --setfit.iterations=10 --finetune.epochs=30. "
        "See 'rawtune config show fewshot' for every key and its default.",
    )
    add_config_flag(p)
    p.add_argument("--model", metavar="ID|DIR|RUN", help="encoder: hub id, save_pretrained dir, or a run dir")
    p.add_argument(
        "--train", metavar="FILE", help="the pool the k-shot sample is drawn from (.csv/.tsv/.jsonl)"
    )
    p.add_argument("--dev", metavar="FILE", help="evaluation data, scored at the end of each run")
    p.add_argument("--test", metavar="FILE", help="test data, scored at the end of each run")
    p.add_argument("--output", metavar="DIR", help="directory to create")
    p.add_argument("--shots", type=int, metavar="K", help="examples per class (default 8)")
    p.add_argument(
        "--n-seeds",
        dest="n_seeds",
        type=int,
        metavar="N",
        help="number of runs, seeds SEED..SEED+N-1 (default 1)",
    )
    p.add_argument(
        "--seeds", metavar="5,6,7", help="the seeds as a list, consecutive: the same as --seed 5 --n-seeds 3"
    )
    p.add_argument("--seed", type=int, help="first seed (default 0)")
    p.add_argument(
        "--task",
        metavar="classification|ner",
        help="ner: k sentences per entity type from a CoNLL/JSONL file (default classification)",
    )
    p.add_argument(
        "--learner",
        metavar="NAME",
        help="the `method` key; classification: setfit (default), finetune, pet (needs --pet.verbalizer); "
        "ner: finetune (default), nnshot, proto",
    )
    p.add_argument(
        "--descriptions",
        metavar="FILE.yaml",
        help="label -> description(s); each joins every sample as one more example of its label",
    )
    p.add_argument(
        "--min-steps",
        dest="min_steps",
        type=int,
        metavar="N",
        help="finetune: at least N optimizer steps (default 300 for ner, 0 for classification)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the study in --output: complete seeds are kept, an interrupted one continues "
        "from its last checkpoint",
    )
    p.add_argument("--text-column", dest="text_column", metavar="NAME", help="csv/jsonl: the text column")
    p.add_argument("--label-column", dest="label_column", metavar="NAME", help="csv/jsonl: the label column")
    renamed_flag(p, "--method", "--learner", "--method is the tuning method (finetune, selftrain, hpo)")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def _seed_range(args: argparse.Namespace) -> tuple[int, int]:
    """--seeds 5,6,7 as (first seed, number of seeds). One value is refused: before --seeds was a
    list everywhere, fewshot's --seeds N meant N runs."""
    from rawtune.cli.finetune_cmd import parse_seeds
    from rawtune.errors import ConfigError, ConfigIssue

    seeds = parse_seeds(args.seeds)
    why = None
    if len(seeds) == 1:
        why = f"a list of seeds like 5,6,7 (one seed: --seed {seeds[0]}; a number of runs: --n-seeds N)"
    elif seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        why = f"consecutive seeds (fewshot runs SEED..SEED+N-1), got {args.seeds!r}"
    elif args.seed is not None or args.n_seeds is not None:
        why = "either --seeds or --seed/--n-seeds, not both"
    if why:
        raise ConfigError([ConfigIssue("--seeds", why, file="command line")])
    return seeds[0], len(seeds)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.stages.fewshot import run_fewshot

    if args.seeds is not None:
        args.seed, args.n_seeds = _seed_range(args)
    cfg = stage_config("fewshot", args, extra, SHORTCUTS)
    summary = run_fewshot(cfg, resume=args.resume)
    n = len(summary["seeds"])
    for split in ("dev", "test"):
        for key in ("accuracy", "macro_f1", "f1"):
            v = (summary.get(split) or {}).get(key)
            if v:
                print(f"{split} {key}: {v['mean']:.4f} ± {v['std']:.4f} ({n} seed{'s' * (n > 1)})")
    print(cfg.output)
    return 0
