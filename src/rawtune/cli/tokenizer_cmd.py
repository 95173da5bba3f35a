"""`rawtune tokenizer train`: a WordPiece / BPE / Unigram tokenizer from raw text."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train a tokenizer on raw text")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    t = tsub.add_parser("train", help="train a WordPiece / BPE / Unigram tokenizer (save_pretrained format)")
    t.add_argument("--corpus", nargs="+", required=True, metavar="PATH", help="files, dirs, globs, hf:NAME")
    t.add_argument("--output", required=True, metavar="DIR")
    t.add_argument("--type", default="wordpiece", choices=["wordpiece", "bpe", "unigram"])
    t.add_argument("--vocab-size", type=int, default=16000)
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--cased", action="store_true", help="keep case (default: lowercase)")
    t.add_argument("--text-field", default="text", help="field with the text in .jsonl/.csv/.parquet")
    t.add_argument("--document", default="line", choices=["line", "paragraph"])
    t.set_defaults(handler=handle, known_flags=[a for act in t._actions for a in act.option_strings])
    p.set_defaults(handler=lambda args, extra: (p.print_help(), 2)[1])


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    from rawtune.cli.overrides import split_overrides
    from rawtune.config.schema import DataConfig
    from rawtune.modeling.tokenizers import train_tokenizer

    split_overrides(extra, args.known_flags)  # rejects unknown flags
    data = DataConfig(corpus=args.corpus, text_field=args.text_field, document=args.document)
    tok = train_tokenizer(
        args.corpus,
        args.output,
        type=args.type,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        lowercase=not args.cased,
        data_cfg=data,
    )
    print(f"{args.output} ({len(tok)} tokens)")
    return 0
