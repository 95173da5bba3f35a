"""`rawtune pretrain`: named flags are shortcuts for config keys; --a.b=v sets any other key."""

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

# flag dest -> config key
SHORTCUTS = {
    "model": "model.name_or_path",
    "corpus": "data.corpus",
    "objective": "objective.name",
    "output": "output",
    "seed": "seed",
    "epochs": "train.epochs",
    "lr": "train.lr",
    "init": "model.init",
    "arch": "model.arch",
    "layers": "model.layers",
    "hidden": "model.hidden",
    "tokenizer": "tokenizer.path",
    "whole_word": "objective.whole_word",
    "seq_len": "data.seq_len",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="masked-LM / causal-LM pretraining on raw text",
        description="Continue pretraining a model (hub id, local dir or run dir) on raw text, "
        "or pretrain from scratch with a new tokenizer. Writes a run directory.",
        epilog="Any config key is a flag too: --train.max_steps=2000 --data.document=paragraph. "
        "See 'rawtune config show pretrain' for every key and its default.",
    )
    add_config_flag(p)
    p.add_argument("--model", metavar="ID|DIR|RUN", help="hub id, save_pretrained dir, or a rawtune run dir")
    p.add_argument("--corpus", nargs="+", metavar="PATH", help="files, dirs, globs, hf:NAME[:CONFIG]")
    p.add_argument(
        "--objective", metavar="mlm|clm|span", help="training objective (objective.name; default mlm)"
    )
    p.add_argument("--output", metavar="DIR", help="run directory to create")
    p.add_argument("--seed", type=int, help="random seed of the run")
    p.add_argument("--epochs", type=float, help="passes over the training data (train.epochs)")
    p.add_argument("--lr", type=float, help="peak learning rate (train.lr)")
    p.add_argument(
        "--init", metavar="pretrained|scratch", help="start from the weights of --model or from scratch"
    )
    p.add_argument(
        "--arch", metavar="bert|roberta|gpt2|t5", help="scratch: architecture (t5 with --objective span)"
    )
    p.add_argument("--layers", type=int, help="scratch: layers")
    p.add_argument("--hidden", type=int, help="scratch: hidden size")
    p.add_argument("--tokenizer", metavar="DIR|ID", help="use this tokenizer instead of the model's")
    p.add_argument("--seq-len", type=int, dest="seq_len", help="tokens per packed block")
    p.add_argument("--whole-word", action="store_true", default=None, help="whole-word masking")
    add_resume_flag(p, "continue the run in --output from its last checkpoint")
    add_threads_flag(p)
    add_progress_flag(p)
    set_handler(p, handle)


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.stages.pretrain import run_pretrain

    cfg = stage_config("pretrain", args, extra, SHORTCUTS)
    run = run_pretrain(cfg, resume=args.resume)
    print(run.path)
    return 0
