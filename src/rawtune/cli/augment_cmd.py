"""`rawtune augment`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import (
    add_config_flag,
    add_progress_flag,
    add_threads_flag,
    collect_overrides,
    set_handler,
)

SHORTCUTS = {
    "model": "model.name_or_path",
    "input": "input",
    "output": "output",
    "factor": "factor",
    "fraction": "fraction",
    "methods": "methods",
    "seed": "seed",
    "top_k": "top_k",
    "temperature": "temperature",
    "batch_size": "batch_size",
    "swap_prob": "swap_prob",
    "task": "data.task",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "tag_column": "data.tag_column",
    "overwrite": "overwrite",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "augment",
        help="augment a labeled file: masked-LM word replacement, entity swap (NER)",
        description="Write an augmented copy of a labeled file in the format it was read in (CoNLL or "
        "JSONL for NER, CSV/TSV/JSONL for classification): every original example is kept, each followed "
        "by --factor augmented copies. mlm replaces --fraction of the alphabetic words outside entities "
        "with words sampled from a masked LM (entity words and all tags stay as they are); swap (NER) "
        "replaces entity mentions with other mentions of the same type from the same file. The counts "
        "are printed and written to OUTPUT.augment.json. The same seed gives the same file.",
        epilog="The mlm method needs a model with a trained MLM head (a rawtune pretrain run, or a "
        "*ForMaskedLM checkpoint such as bert-base-uncased); a sentence encoder without one is refused. "
        "Any config key is a flag too: --data.scheme=iob1. See 'rawtune config show augment'.",
    )
    add_config_flag(p)
    p.add_argument(
        "--model", metavar="ID|DIR|RUN", help="masked LM: hub id, save_pretrained dir, or a run dir"
    )
    p.add_argument("--input", metavar="FILE", help="labeled file (.conll/.jsonl; .csv/.tsv/.jsonl)")
    p.add_argument("--output", metavar="FILE", help="file to write, same format as --input")
    p.add_argument("--factor", type=int, metavar="N", help="augmented copies per example (default 1)")
    p.add_argument(
        "--fraction",
        type=float,
        metavar="F",
        help="mlm: fraction of the alphabetic non-entity words replaced in each copy (0.15)",
    )
    p.add_argument("--methods", metavar="mlm,swap", help="methods applied in each copy (default mlm)")
    p.add_argument(
        "--entity-swap",
        dest="entity_swap",
        action="store_true",
        help="NER: also swap entity mentions with others of the same type (adds swap to --methods)",
    )
    p.add_argument(
        "--swap-prob", dest="swap_prob", type=float, metavar="P", help="swap: chance per mention (0.3)"
    )
    p.add_argument(
        "--top-k", dest="top_k", type=int, metavar="K", help="mlm: sample from the top K words (20)"
    )
    p.add_argument("--temperature", type=float, metavar="T", help="mlm: sampling temperature (1.0)")
    p.add_argument(
        "--batch-size", dest="batch_size", type=int, metavar="N", help="mlm: sentences per forward pass"
    )
    p.add_argument("--seed", type=int, help="random seed of the augmentation")
    p.add_argument("--task", metavar="auto|ner|classification", help="how to read --input (default: by name)")
    p.add_argument("--text-column", dest="text_column", metavar="NAME", help="csv/jsonl: the text column")
    p.add_argument("--label-column", dest="label_column", metavar="NAME", help="csv/jsonl: the label column")
    p.add_argument("--tag-column", dest="tag_column", type=int, metavar="N", help="CoNLL tag column")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace an existing --output")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.config.loader import load_config
    from rawtune.stages.augment import run_augment

    overrides = collect_overrides(args, extra, SHORTCUTS, "augment")
    if args.entity_swap:
        methods = overrides.get("methods", "mlm")
        methods = methods.split(",") if isinstance(methods, str) else list(methods)
        overrides["methods"] = ",".join(dict.fromkeys([*methods, "swap"]))
    cfg = load_config("augment", file=args.config, overrides=overrides)
    stats = run_augment(cfg)
    print(
        f"{stats['examples_in']} examples -> {stats['examples_out']} ({stats['copies']} copies, "
        f"{stats['unchanged_copies']} unchanged); {stats['words_replaced']} words replaced "
        f"({stats['fraction_replaced']:.3f} of {stats['replaceable_words']} replaceable); "
        f"{stats['entities_swapped']} of {stats['entity_mentions']} entity mentions swapped"
    )
    print(stats["output"])
    return 0
