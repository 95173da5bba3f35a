"""`rawtune predict RUN --input FILE --output FILE [--format jsonl|conll|csv] [--input-format F] [--resume]`."""

from __future__ import annotations

import argparse

from rawtune.cli.overrides import add_threads_flag, set_handler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a run (text, CoNLL, JSONL, CSV, TSV) to JSON lines, CoNLL or CSV",
        description="Stream INPUT through RUN's model, never reading it whole. Plain text (.txt): one "
        "sentence or text per line (NER: paragraphs between blank lines are documents); CoNLL, JSONL, "
        "CSV and TSV as the run's task reads them. The format comes from INPUT's name and content (a "
        "CoNLL file named .txt is read as CoNLL); --input-format names it. NER returns entities with "
        "character offsets and scores, classification a label and every label's probability. Records "
        "are written as they are computed to OUTPUT.partial, which becomes OUTPUT when the input is "
        "done; an interrupted run continues with --resume.",
    )
    p.add_argument(
        "run",
        metavar="RUN",
        help="a finished run of any kind (finetune, compress, fewshot seed, zeroshot, continual, "
        "selftrain round, an `export --onnx` dir), a save_pretrained model with a task head (an "
        "`export --merge` output), a Hugging Face Hub id, or models:/NAME[/N|/latest] from the model store",
    )
    p.add_argument("--input", required=True, metavar="FILE", help="the inputs to predict on")
    p.add_argument(
        "--input-format",
        dest="input_format",
        choices=["txt", "conll", "jsonl", "csv", "tsv", "json"],
        default=None,
        help="how to read INPUT (default: from its name and content)",
    )
    p.add_argument("--output", required=True, metavar="FILE", help="the file to write, one record per input")
    p.add_argument(
        "--format",
        dest="output_format",
        choices=["jsonl", "conll", "csv"],
        default="jsonl",
        help="OUTPUT's format: jsonl (every record, default), conll (NER: each token line with the "
        "predicted tag added, conlleval-ready for a labeled CoNLL input) or csv (classification)",
    )
    p.add_argument("--batch-size", dest="batch_size", type=int, default=32, help="inputs per forward pass")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue OUTPUT.partial left by an interrupted run (same RUN, INPUT and batch size)",
    )
    p.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="cast the weights; auto (the default): bf16 where a short probe, cached per machine, finds it "
        "faster on the device the model runs on, else as saved (int8 and ONNX models: always as saved)",
    )
    p.add_argument(
        "--backend",
        choices=["torch", "onnx-int8"],
        default="torch",
        help="torch (default), or onnx-int8: the run's model exported to ONNX with int8 weights (per "
        "channel, onnxruntime dynamic quantization) on first use, cached, and run by onnxruntime on "
        "the CPU; its argmax agreement with PyTorch is logged",
    )
    _relation_flags(p)
    p.add_argument(
        "--null-threshold",
        dest="null_threshold",
        type=float,
        default=None,
        help="SQuAD v2 runs: the no-answer threshold to decide with (e.g. a dev report's best_f1_thresh); "
        "a --resume must repeat it",
    )
    p.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="auto (a GPU when there is one, else the CPU), cpu, cuda or cuda:N; int8 and ONNX "
        "models always run on the CPU",
    )
    add_threads_flag(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    set_handler(p, handle)


def _relation_flags(p: argparse.ArgumentParser) -> None:
    """Relations runs in pipeline mode: a NER run finds the mentions."""
    p.add_argument(
        "--ner",
        metavar="NER_RUN",
        help="relations runs: a NER run that finds the mentions in each line of a .txt INPUT; every "
        "candidate pair is classified (pipeline mode)",
    )
    p.add_argument(
        "--all-pairs",
        dest="all_pairs",
        action="store_true",
        help="--ner: classify every pair of mentions, not only type pairs seen in training",
    )
    p.add_argument(
        "--keep-none",
        dest="keep_none",
        action="store_true",
        help="--ner: also list the pairs predicted as the no-relation label",
    )


def handle(args: argparse.Namespace, extra: list[str]) -> int:
    import sys

    from rawtune.cli.overrides import UnknownFlags
    from rawtune.errors import DataError
    from rawtune.logs import setup_logging
    from rawtune.serve.predictor import Predictor
    from rawtune.versions import resolve_model_ref

    if extra:
        raise UnknownFlags(f"unknown arguments: {' '.join(extra)}")
    args.run = resolve_model_ref(args.run)  # models:/NAME[/N|/latest] -> its run directory
    if args.batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, not {args.batch_size}")
    setup_logging()  # the precision `--dtype auto` chose, on one line
    args.run = _backend_run(args, args.run)
    pred = Predictor.from_run(args.run, dtype=args.dtype, device=args.device)  # a run, or an ONNX export dir
    if args.null_threshold is not None:
        from rawtune.tasks.qa import set_null_threshold

        set_null_threshold(pred.task, args.null_threshold)
    if args.ner:  # relations pipeline: NER mentions -> every candidate pair classified
        from rawtune.serve.relation_pipeline import RelationPipeline

        ner_run = _backend_run(args, resolve_model_ref(args.ner))
        ner = Predictor.from_run(ner_run, dtype=args.dtype, device=args.device)
        pred = RelationPipeline(pred, ner, all_pairs=args.all_pairs, keep_none=args.keep_none)
        if args.output_format != "jsonl" or args.input_format not in (None, "txt"):
            raise DataError("--ner (the pipeline mode) reads a .txt INPUT and writes JSON lines")
        formats: dict = {}
    else:
        if args.all_pairs or args.keep_none:
            raise DataError("--all-pairs and --keep-none need --ner NER_RUN (the pipeline mode)")
        formats = {"input_format": args.input_format, "output_format": args.output_format}
    partial = f"{args.output}.partial"
    before = _size(partial)
    try:
        n = pred.predict_file(
            args.input,
            args.output,
            batch_size=args.batch_size,
            progress=args.progress,
            resume=args.resume,
            **formats,
        )
    except BaseException:
        if _size(partial) not in (None, before):  # this run wrote some: say how to keep it
            print(
                f"rawtune predict: the records written are kept in {partial}; rerun with --resume to continue",
                file=sys.stderr,
            )
        raise
    print(f"{n} predictions -> {args.output}", file=sys.stderr)
    return 0


def _backend_run(args: argparse.Namespace, run: str) -> str:
    """The run to load for --backend: RUN itself (torch), or its cached int8 ONNX export."""
    if args.backend == "torch":
        return run
    from rawtune.errors import DataError
    from rawtune.serve.onnx_int8 import onnx_int8_dir

    if args.device not in ("auto", "cpu"):
        raise DataError(f"--backend {args.backend} runs on the CPU; drop --device {args.device}")
    return str(onnx_int8_dir(run))


def _size(path: str) -> int | None:
    import os

    return os.path.getsize(path) if os.path.isfile(path) else None
