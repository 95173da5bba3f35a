"""`rawtune tokenizer train`: a WordPiece / BPE / Unigram tokenizer from raw text.
Flags left out take their defaults from the config schema (TokenizerConfig, DataConfig)."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train a tokenizer on raw text")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    t = tsub.add_parser("train", help="train a WordPiece / BPE / Unigram tokenizer (save_pretrained format)")
    t.add_argument("--corpus", nargs="+", required=True, metavar="PATH", help="files, dirs, globs, hf:NAME")
    t.add_argument("--output", required=True, metavar="DIR", help="directory to write the tokenizer to")
    t.add_argument("--type", choices=["wordpiece", "bpe", "unigram"], help="default: wordpiece")
    t.add_argument("--vocab-size", type=int, help="default: 16000")
    t.add_argument("--min-frequency", type=int, help="default: 2")
    t.add_argument("--cased", action="store_true", help="keep case (default: lowercase)")
    t.add_argument("--text-field", help="field with the text in .jsonl/.csv/.parquet (default: text)")
    t.add_argument("--document", choices=["line", "paragraph"], help=".txt documents (default: line)")
    set_handler(t, handle)
    p.set_defaults(handler=lambda args, extra: (p.print_help(), 2)[1])


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import split_overrides
    from rawtune.config.loader import load_config
    from rawtune.modeling.tokenizers import train_tokenizer

    split_overrides(extra, args.known_flags)  # rejects unknown flags
    given = {
        "tokenizer.type": args.type,
        "tokenizer.vocab_size": args.vocab_size,
        "tokenizer.min_frequency": args.min_frequency,
        "data.text_field": args.text_field,
        "data.document": args.document,
        "tokenizer.lowercase": False if args.cased else None,
    }
    cfg = load_config(
        "pretrain",
        overrides={"data.corpus": args.corpus, **{k: v for k, v in given.items() if v is not None}},
        require=False,
    )
    tok = train_tokenizer(
        cfg.data.corpus,
        args.output,
        type=cfg.tokenizer.type,
        vocab_size=cfg.tokenizer.vocab_size,
        min_frequency=cfg.tokenizer.min_frequency,
        lowercase=cfg.tokenizer.lowercase,
        data_cfg=cfg.data,
    )
    print(f"{args.output} ({len(tok)} tokens)")
    return 0
