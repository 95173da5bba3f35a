"""`rawtune zeroshot`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

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
    "data": "data.file",
    "labels": "labels",
    "output": "output",
    "scoring": "method",
    "descriptions": "descriptions",
    "template": "template",
    "verbalizer": "verbalizer",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "split": "data.split",
    "batch_size": "batch_size",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "zeroshot",
        help="classify without training: embedding similarity, cloze prompts or NLI",
        description="Classify a table against label names (or descriptions) with no training, and write "
        "a run directory: metrics.json (accuracy, macro F1, majority baseline when labeled), "
        "eval/SPLIT/report.{json,md}, plots and predictions.jsonl.",
        epilog="Methods: embedding (a sentence encoder, e.g. all-MiniLM-L6-v2; cosine to label descriptions), "
        "cloze (a masked LM with its MLM head; --template with {text} and {mask}, --verbalizer), "
        "nli (an NLI classifier; --template with {label}). See 'rawtune config show zeroshot'.",
    )
    add_config_flag(p)
    p.add_argument("--model", metavar="ID|DIR|RUN", help="hub id, save_pretrained dir, or a rawtune run dir")
    p.add_argument("--data", metavar="FILE", help="table to classify (.csv/.tsv/.jsonl)")
    p.add_argument("--labels", metavar="A,B,C", help="the label set, comma-separated")
    p.add_argument("--output", metavar="DIR", help="run directory to create")
    p.add_argument(
        "--scoring",
        metavar="embedding|cloze|nli",
        help="how texts are scored (the `method` key; default embedding)",
    )
    renamed_flag(p, "--method", "--scoring", "--method is the tuning method (finetune, selftrain, hpo)")
    p.add_argument("--descriptions", metavar="FILE.yaml", help="label -> description(s), averaged")
    p.add_argument(
        "--template", metavar="TEXT", help="cloze prompt ({text}, {mask}) or NLI hypothesis ({label})"
    )
    p.add_argument("--verbalizer", metavar="a=word,b=word", help="cloze: one vocabulary word per label")
    p.add_argument("--text-column", dest="text_column", metavar="NAME", help="csv/jsonl: the text column")
    p.add_argument("--label-column", dest="label_column", metavar="NAME", help="csv/jsonl: the label column")
    p.add_argument("--split", metavar="NAME", help="split name in metrics.json and eval/ (default dev)")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="texts per forward pass")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    import json

    from rawtune.stages.zeroshot import run_zeroshot

    cfg = stage_config("zeroshot", args, extra, SHORTCUTS)
    run = run_zeroshot(cfg)
    summary = json.loads(run.metrics_json.read_text())[cfg.data.split]
    if "accuracy" in summary:
        print(
            f"{cfg.data.split}: accuracy {summary['accuracy']:.4f}, macro F1 {summary['macro_f1']:.4f}, "
            f"majority baseline {summary['majority_baseline']:.4f} ({summary['n']} examples, {cfg.method})"
        )
    print(run.path)
    return 0
