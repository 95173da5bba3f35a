"""`rawtune finetune`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import (
    add_config_flag,
    add_progress_flag,
    add_resume_flag,
    add_threads_flag,
    collect_overrides,
    set_handler,
)

SHORTCUTS = {
    "task": "task.name",
    "model": "model.name_or_path",
    "train": "data.train",
    "dev": "data.dev",
    "test": "data.test",
    "output": "output",
    "seed": "seed",
    "text_column": "data.text_column",
    "text_b_column": "data.text_b_column",
    "label_column": "data.label_column",
    "tag_column": "data.tag_column",
    "label_kind": "task.label_kind",
    "epochs": "train.epochs",
    "lr": "train.lr",
    "reinit_head": "reinit_head",
    "repair_tags": "data.repair_tags",
    "doc_context": "data.doc_context",
    "method": "tuning.method",
    "init": "model.init",
    "arch": "model.arch",
    "augment": "data.augment.factor",
    "augment_model": "data.augment.model",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune a task: ner, classification, pairs, qa, relations; seq2seq, causal (generation)",
        description="Fine-tune a backbone (hub id, local dir, or a rawtune run dir) on a small labeled "
        "set. Keeps the best model by the dev metric and writes metrics.json and eval/ reports.",
        epilog="Any config key is a flag too: --train.head_lr=1e-3 --tuning.freeze_layers=2. "
        "See 'rawtune config show finetune' for every key and its default.",
    )
    add_config_flag(p)
    p.add_argument(
        "--task", metavar="ner|classification|pairs|qa|relations|seq2seq|causal", help="the task (task.name)"
    )
    p.add_argument("--model", metavar="ID|DIR|RUN", help="hub id, save_pretrained dir, or a rawtune run dir")
    p.add_argument(
        "--train",
        metavar="FILE",
        help="training data (.conll/.jsonl; .csv/.tsv/.jsonl; qa: SQuAD .json/.jsonl; relations: .jsonl)",
    )
    p.add_argument("--dev", metavar="FILE", help="development data: model selection, early stopping")
    p.add_argument("--test", metavar="FILE", help="test data, evaluated once at the end")
    p.add_argument("--output", metavar="DIR", help="run directory to create")
    p.add_argument("--seed", type=int, help="random seed of the run")
    p.add_argument("--seeds", metavar="1,2,3", help="one run per seed (OUTPUT/seed-N) and mean ± std")
    _learning_curve_flags(p)
    p.add_argument("--text-column", dest="text_column", metavar="NAME", help="csv/jsonl: the text column")
    p.add_argument("--text-b-column", dest="text_b_column", metavar="NAME", help="pairs: second text")
    p.add_argument("--label-column", dest="label_column", metavar="NAME", help="csv/jsonl: the label column")
    p.add_argument("--tag-column", dest="tag_column", type=int, metavar="N", help="CoNLL tag column")
    p.add_argument(
        "--label-kind",
        dest="label_kind",
        metavar="single|multi|regression",
        help="classification: kind of label",
    )
    p.add_argument(
        "--method",
        metavar="full|freeze|bitfit|lora|ia3|prompt|prefix|adapter",
        help="tuning method; its options are --tuning.* keys (e.g. --tuning.lora_r=16)",
    )
    p.add_argument(
        "--init", metavar="pretrained|scratch", help="scratch: a small t5 (seq2seq) or gpt2 (causal)"
    )
    p.add_argument("--arch", metavar="t5|gpt2", help="scratch: the architecture built")
    p.add_argument("--epochs", type=float, help="passes over the training data (train.epochs)")
    p.add_argument("--lr", type=float, help="peak learning rate (train.lr)")
    p.add_argument(
        "--reinit-head",
        dest="reinit_head",
        action="store_true",
        default=None,
        help="train a new head when the model's labels differ from the data's",
    )
    p.add_argument(
        "--repair-tags",
        dest="repair_tags",
        action="store_true",
        default=None,
        help="turn an I-X that starts an entity into B-X (counted and logged)",
    )
    p.add_argument(
        "--doc-context",
        dest="doc_context",
        type=lambda v: {"true": True, "false": False}.get(v.lower(), v),
        choices=["auto", True, False],
        metavar="auto|true|false",
        help="NER: read each sentence with its document's neighbours (auto: where the data has boundaries)",
    )
    _augment_flags(p)
    add_resume_flag(p, "continue the run in --output from its checkpoint")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def _augment_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--augment",
        type=int,
        metavar="N",
        help="train on each training example plus N augmented copies (masked-LM word replacement, entity "
        "swap for NER; dev/test untouched); options are --data.augment.* keys (e.g. --data.augment.fraction=0.2)",
    )
    p.add_argument(
        "--augment-model",
        dest="augment_model",
        metavar="ID|DIR|RUN",
        help="masked LM for --augment (default --model, which must then have a trained MLM head)",
    )


def _learning_curve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--train-fraction",
        dest="train_fraction",
        metavar="0.01,0.1,1.0",
        help="learning curve: one run per fraction of the training set (OUTPUT/<model>/fraction-F), "
        "OUTPUT/learning_curve.json and its plot in OUTPUT/report.html; a single value trains on that fraction",
    )
    p.add_argument(
        "--min-steps",
        dest="min_steps",
        type=int,
        default=0,
        metavar="N",
        help="learning curve: train each point for at least N optimizer steps",
    )


def parse_seeds(text: str) -> list[int]:
    from rawtune.errors import ConfigError, ConfigIssue

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(
            [
                ConfigIssue(
                    "seeds", f"expected distinct integers like 1,2,3, got {text!r}", file="command line"
                )
            ]
        )
    return seeds


def parse_fractions(text: str) -> list[float]:
    """`0.01,0.05,0.2,1.0` -> sorted unique fractions in (0, 1]."""
    from rawtune.errors import ConfigError, ConfigIssue

    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        values = []
    if not values or any(not 0 < v <= 1 for v in values):
        raise ConfigError(
            [ConfigIssue("train_fraction", f"expected fractions in (0, 1] like 0.01,0.1,1.0, got {text!r}")]
        )
    return values


def _learning_curve(cfg, fractions: list[float], min_steps: int, resume: bool) -> int:
    import json

    from rawtune.stages.learning_curve import run_learning_curve

    root = run_learning_curve(cfg, fractions, min_steps=min_steps, resume=resume)
    curve = json.loads((root / "learning_curve.json").read_text())
    for series in curve["series"]:
        print(f"{series['name']} ({curve['split']} {curve['metric']}):")
        for p in series["points"]:
            value = "-" if p["value"] is None else f"{p['value']:.4f}"
            print(f"  {p['fraction']:>6g}  {p['examples']:>7} examples  {value}")
    print(root)
    return 0


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.config.loader import load_config
    from rawtune.stages.finetune import run_finetune, run_finetune_seeds

    overrides = collect_overrides(args, extra, SHORTCUTS, "finetune")
    fractions = None
    if args.train_fraction:
        fractions = parse_fractions(args.train_fraction)
        if len(fractions) == 1:
            overrides["data.train_fraction"] = fractions[0]
    cfg = load_config("finetune", file=args.config, overrides=overrides)
    if fractions and len(fractions) > 1:
        if args.seeds:
            from rawtune.errors import RawtuneError

            raise RawtuneError("--train-fraction with several fractions and --seeds: run one curve per seed")
        return _learning_curve(cfg, fractions, args.min_steps, args.resume)
    if args.seeds:
        summary = run_finetune_seeds(cfg, parse_seeds(args.seeds), resume=args.resume)
        for split in ("dev", "test"):
            for key, v in (summary.get(split) or {}).items():
                if key in ("f1", "accuracy", "macro_f1", "micro_f1", "pearson", "rougeL", "bleu", "chrf"):
                    print(f"{split} {key}: {v['mean']:.4f} ± {v['std']:.4f} ({len(summary['seeds'])} seeds)")
        print(cfg.output)
        return 0
    run = run_finetune(cfg, resume=args.resume)
    print(run.path)
    return 0
