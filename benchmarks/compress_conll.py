#!/usr/bin/env python
"""Benchmark: `rawtune compress` on a CoNLL-2003 MiniLM NER model — F1, size, batch-1 latency and
batch-32 throughput of each compressed variant next to the fp32 parent.

The parent is a finished `rawtune finetune` NER run (--parent RUN), or one this script trains: the packaged
MiniLM on the first --train-sentences CoNLL-2003 train sentences (3,000), --epochs 2, lr 1e-4, batch 16, no
checkpoints (the full fine-tuning row of benchmarks/peft_compare.py). Each variant is one `rawtune compress`
subprocess against the parent on the full dev set (3,250 sentences; --dev-sentences cuts it); the numbers are
its metrics.json: dev F1 (seqeval strict IOB2), weight-file MB, latency (ms per input at batch 1, median of
--repeats over 32 dev inputs) and throughput (examples/s at batch 32), parent and variant timed in turns in
the same process, so the ratio columns are what to read on a shared machine.

Variants (--variants):
  int8       dynamic per-channel int8 of every linear layer (torch)
  int8-ffn32 the same with the FFN output layers left in fp32 (--keep-fp32)
  onnx       the ONNX export run by onnxruntime (fp32)
  onnx-int8  the ONNX export quantized by onnxruntime (int8)
  student3   a 3-layer student distilled from the parent (its layers 0, 3, 5 to start), --distill-epochs over the
             parent's labeled sentences plus the rest of CoNLL-2003 train as unlabeled raw text (the teacher
             labels it; --raw-sentences caps it)
  heads30    30 % of the attention heads removed (gradient importance), --recover-epochs of recovery fine-tuning

Usage:
    python benchmarks/compress_conll.py --threads 2                       # trains the parent, then compresses
    python benchmarks/compress_conll.py --parent runs/ner --threads 2
    python benchmarks/compress_conll.py --train-sentences 64 --dev-sentences 100 --epochs 1   # smoke test
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from corpora import read_conll, write_conll, write_raw_text
from harness import (
    add_data_dir,
    add_outputs,
    add_threads,
    begin,
    log,
    machine_line,
    markdown_table,
    new_parser,
    parse_list,
    run_logged,
    tail,
    workdir,
    write_payload,
)
from recipe import minilm, quiet_flags, rawtune_command, rawtune_preflight

VARIANTS = ["int8", "int8-ffn32", "onnx", "onnx-int8", "student3", "heads30"]


def variant_flags(v: str, args, tmp: Path) -> list[str]:
    # the last model, never one picked on the dev set the table reports (the parent is not either)
    train = quiet_flags(args.threads)
    if v == "int8":
        return ["--quantize", "int8"]
    if v == "int8-ffn32":
        return ["--quantize", "int8", "--keep-fp32", r"layer\.\d+\.output\.dense"]
    if v == "onnx":
        return ["--onnx"]
    if v == "onnx-int8":
        return ["--onnx", "--quantize", "int8"]
    if v == "student3":
        raw = tmp / "raw.txt"
        if not raw.is_file():
            sents = read_conll(args.data_dir / "conll2003" / "train.txt")[args.train_sentences :]
            write_raw_text(sents[: args.raw_sentences] if args.raw_sentences is not None else sents, raw)
        return [
            "--distill", "--student-layers", "3", "--raw-text", str(raw), "--epochs", str(args.distill_epochs),
            *train,
        ]  # fmt: skip
    if v == "heads30":
        return [
            "--prune", "heads:0.3", "--recover-epochs", str(args.recover_epochs), *train,
        ]  # fmt: skip
    raise ValueError(v)


def train_parent(args, cmd: list[str], tmp: Path) -> Path:
    conll = args.data_dir / "conll2003"
    write_conll(read_conll(conll / "train.txt")[: args.train_sentences], tmp / "train.conll")
    out = tmp / "parent"
    run = [
        *cmd, "finetune", "--task", "ner", "--model", minilm(), "--train", str(tmp / "train.conll"),
        "--output", str(out), "--seed", "1", "--lr", "1e-4", "--train.epochs", str(args.epochs),
        "--train.batch_size", "16", *quiet_flags(args.threads),
    ]  # fmt: skip
    log(f"training the parent: {shlex.join(run)}")
    code, secs = run_logged(run, tmp / "parent.log", args.threads, args.timeout)
    if code != 0:
        sys.exit(f"parent training failed ({code}):\n{tail(tmp / 'parent.log')}")
    log(f"parent trained in {secs:.0f} s")
    return out


def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    add_data_dir(p, "folder holding conll2003/")
    p.add_argument("--parent", type=Path, help="a finished rawtune finetune NER run (default: train one)")
    p.add_argument("--train-sentences", type=int, default=3000)
    p.add_argument("--dev-sentences", type=int, default=None, help="cut the dev set (smoke tests)")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"any of {','.join(VARIANTS)}")
    p.add_argument("--distill-epochs", type=float, default=3.0)
    p.add_argument("--raw-sentences", type=int, default=None, help="cap the unlabeled sentences (student3)")
    p.add_argument("--recover-epochs", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    add_threads(p)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--rawtune-cmd", default=None)
    add_outputs(p)
    return p


def compress(args, cmd: list[str], parent: Path, v: str, tmp: Path) -> dict:
    """One `rawtune compress` variant of the parent: its metrics.json (and name), or a failed row."""
    out = tmp / f"compressed-{v}"
    run = [
        *cmd, "compress", str(parent), *variant_flags(v, args, tmp), "--output", str(out), "--dev", str(tmp / "dev.conll"),
        "--measure.repeats", str(args.repeats), *(["--threads", str(args.threads)] if args.threads else []),
    ]  # fmt: skip
    log(f"[{v}] {shlex.join(run)}")
    code, _ = run_logged(run, tmp / f"{v}.log", args.threads, args.timeout)
    if code not in (0, 4) or not (out / "metrics.json").is_file():
        log(f"[{v}] failed ({code}):\n{tail(tmp / f'{v}.log')}")
        return {"variant": v, "failed": True}
    return {"variant": v, **json.loads((out / "metrics.json").read_text())}


def table(rows: list[dict]) -> str:
    header = [
        "model",
        "dev F1",
        "Δ F1 points",
        "F1 kept",
        "MB",
        "batch-1 ms",
        "speedup",
        "batch-32 ex/s",
        "throughput x",
    ]
    lines = []
    first = next((r for r in rows if not r.get("failed")), None)
    if first:
        lat, size = first["latency"]["parent"], first["size"]["parent"]
        lines.append(["fp32 (parent)", f"{first['parent']['dev']['f1']:.4f}", "—", "100 %", f"{size['mb']:.1f}",
                      f"{lat['latency_ms']:.2f}", "1.00x", f"{lat['throughput']:.1f}", "1.00x"])  # fmt: skip
    for r in rows:
        if r.get("failed"):
            lines.append([r["variant"], "failed", *[""] * 7])
            continue
        mine, theirs = r["latency"]["compressed"], r["latency"]["parent"]
        lines.append([
            r["variant"], f"{r['dev']['f1']:.4f}", f"{-r['gate']['metric_drop_points']:+.2f}",
            f"{100 * r['dev']['f1'] / r['parent']['dev']['f1']:.1f} %", f"{r['size']['compressed']['mb']:.1f}",
            f"{mine['latency_ms']:.2f}", f"{r['gate']['speedup']:.2f}x", f"{mine['throughput']:.1f}",
            f"{mine['throughput'] / theirs['throughput']:.2f}x",
        ])  # fmt: skip
    return markdown_table(header, lines, "lrrrrrrrr")


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    variants = parse_list(args.variants, VARIANTS, "--variants", p)
    cmd = rawtune_command(args.rawtune_cmd)
    reason = rawtune_preflight(cmd, args.threads, ("finetune", "compress"))
    if reason:
        sys.exit(reason)
    command, info = begin(__file__, argv, args.threads)
    with workdir("rawtune-compress-bench-", args.keep_tmp) as tmp:
        parent = args.parent or train_parent(args, cmd, tmp)
        dev = read_conll(args.data_dir / "conll2003" / "dev.txt")[: args.dev_sentences]
        write_conll(dev, tmp / "dev.conll")
        rows = [compress(args, cmd, parent, v, tmp) for v in variants]
        print(f"command: {command}")
        print(machine_line(info))
        print(f"parent: {parent}; dev: {len(dev):,} CoNLL-2003 dev sentences\n")
        print(table(rows))
        print(
            "\nEach variant row's parent was re-timed in its own run (the fp32 row shows the first); ratios are "
            "against that run's parent. MB: weight files (10^6 bytes)."
        )
        write_payload(args.json, command, info, rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
