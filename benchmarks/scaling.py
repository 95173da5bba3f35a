"""Scaling, measured (issue 11): peak memory of `rawtune pretrain` streaming a generated corpus of
100 MB against one of 1 GB, and training throughput with 1 and 2 data-parallel processes.

rss:        `rawtune pretrain --data.streaming true` of a 2-layer model from scratch (MiniLM's
            tokenizer) for a few steps on each corpus (random sentences
            over a 2,000-word vocabulary, one document per line), peak RSS of the process
            (getrusage of the child). With data.dedupe (the default) every distinct document's
            16-byte digest is kept, so memory grows with the number of documents; --dedupe false
            shows the constant-memory path.
throughput: the packaged all-MiniLM-L6-v2, continued MLM on CoNLL-2003 train sentences, one process
            with grad_accum 2 against `accelerate launch --multi_gpu --num_processes 2` (gloo on CPU),
            the same global batch and steps; tokens/s from each run's metrics.json. On this 2-core
            machine the two processes share the cores one process already uses, so the ratio says
            what data parallelism costs here, not what it gains on two machines or GPUs. A third run
            is one process with one torch thread (`train.threads 1`): under load, torch's default of a
            thread per core can be the slowest of the three (Accelerate starts each of its processes
            with one thread).

    python benchmarks/scaling.py --part rss --sizes-mb 100,1000
    python benchmarks/scaling.py --part throughput --steps 30 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpora import read_conll, write_raw_text
from harness import DATA_DIR, add_json, begin, interleave, markdown_table, median, new_parser, write_payload
from recipe import minilm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = DATA_DIR


def make_corpus(path: Path, megabytes: int, seed: int = 0) -> int:
    """Random sentences (5-30 words of a 2,000-word vocabulary), one document per line; returns lines."""
    rng = random.Random(seed)
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(2000)
    ]
    target, written, lines = megabytes * 1_000_000, 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            chunk = []
            for _ in range(10_000):
                line = " ".join(rng.choices(vocab, k=rng.randint(5, 30))) + " .\n"
                chunk.append(line)
                written += len(line)
            f.write("".join(chunk))
            lines += len(chunk)
    return lines


# each run is measured by a wrapper process of its own: RUSAGE_CHILDREN is the largest child a
# process ever waited for, so one parent measuring several runs would report the largest so far
_PEAK = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


def _child_peak_mb(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(peak RSS in MB of the run, wall seconds, return code)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return int(done.stdout.split()[-1]) / 1024, wall, done.returncode


def rss(args, model: str, root: Path) -> list[dict]:
    rows = []
    for mb in sorted(int(x) for x in args.sizes_mb.split(",")):
        corpus = root / f"corpus-{mb}mb.txt"
        t = time.perf_counter()
        lines = make_corpus(corpus, mb)
        gen = time.perf_counter() - t
        for dedupe in args.dedupe.split(","):
            out = root / f"run-{mb}-{dedupe}"
            # a 2-layer model from scratch on MiniLM's tokenizer: the model's own memory stays small, so
            # what the corpus costs shows
            cmd = [sys.executable, "-m", "rawtune", "pretrain", "--init", "scratch", "--layers", "2", "--hidden", "64",
                   "--tokenizer", model, "--corpus", str(corpus),
                   "--output", str(out), "--data.streaming", "true", "--data.dedupe", dedupe,
                   "--data.validation_split", "0.001", "--data.max_validation_blocks", "64",
                   "--train.max_steps", str(args.steps), "--train.batch_size", "16", "--train.eval_steps", "1000000",
                   "--train.save_steps", "1000000", "--train.progress", "false", "--seq-len", "128"]  # fmt: skip
            peak, wall, code = _child_peak_mb(cmd, {**os.environ})
            rows.append({"corpus_mb": mb, "documents": lines, "dedupe": dedupe, "peak_rss_mb": peak, "wall_s": wall,
                         "generate_s": gen, "ok": code == 0})  # fmt: skip
            print(rows[-1], flush=True)
        corpus.unlink()
    header = ["corpus", "documents", "dedupe", "peak RSS (MB)", "wall s"]
    print("\n" + markdown_table(header, [
        [f"{r['corpus_mb']} MB", f"{r['documents']:,}", r["dedupe"], f"{r['peak_rss_mb']:.0f}", f"{r['wall_s']:.0f}"]
        for r in rows
    ]))  # fmt: skip
    return rows


def throughput(args, model: str, root: Path) -> list[dict]:
    corpus = root / "conll.txt"
    write_raw_text([s for s in read_conll(DATA / "conll2003" / "train.txt") if s], corpus)
    common = ["-m", "rawtune", "pretrain", "--model", model, "--corpus", str(corpus), "--seq-len", "128",
              "--train.max_steps", str(args.steps), "--train.batch_size", "16", "--train.eval_steps", "1000000",
              "--train.save_steps", "1000000", "--train.progress", "false"]  # fmt: skip
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--num_processes", "2"]  # fmt: skip
    configs = {
        "1 process, grad_accum 2": [sys.executable, *common, "--train.grad_accum", "2"],
        # torch's default is a thread per core; on a loaded machine those threads wait on each other
        "1 process, grad_accum 2, train.threads 1": [
            sys.executable,
            *common,
            "--train.grad_accum",
            "2",
            "--train.threads",
            "1",
        ],
        "2 processes": [*launch, *common],
    }
    # interleaved A B B A ...: on a shared machine the load drifts, and a fixed order would hand the
    # drift to one configuration; each configuration's median over its runs is reported
    rows = []
    for i, (_, name) in enumerate(interleave(list(configs), args.repeats, mirror=True)):
        out = root / f"run-{i}"
        start = time.perf_counter()
        subprocess.run(
            [*configs[name], "--output", str(out)], check=True, env={**os.environ}, capture_output=True
        )
        m = json.loads((out / "metrics.json").read_text())
        rows.append({"run": name, "tokens_per_s": m["tokens_per_s"], "wall_s": time.perf_counter() - start})
        print(rows[-1], flush=True)
    med = {name: median(r["tokens_per_s"] for r in rows if r["run"] == name) for name in configs}
    base = med["1 process, grad_accum 2"]
    header = ["run", f"tokens/s (median of {args.repeats})", "each run", "ratio"]
    print("\n" + markdown_table(header, [
        [name, f"{med[name]:,.0f}", ", ".join(f"{r['tokens_per_s']:,.0f}" for r in rows if r["run"] == name),
         f"{med[name] / base:.2f}x"]
        for name in configs
    ]))  # fmt: skip
    return rows


def main() -> None:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["rss", "throughput"], required=True)
    ap.add_argument("--sizes-mb", default="100,1000")
    ap.add_argument("--dedupe", default="true,false")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument(
        "--repeats", type=int, default=2, help="runs of each throughput configuration, interleaved"
    )
    add_json(ap)
    args = ap.parse_args()
    command, info = begin(__file__, None, None, show_machine=True)
    model = minilm()
    root = Path(tempfile.mkdtemp(prefix="rawtune-scaling-"))
    rows = rss(args, model, root) if args.part == "rss" else throughput(args, model, root)
    write_payload(args.json, command, info, rows=rows)


if __name__ == "__main__":
    main()
