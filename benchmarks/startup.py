#!/usr/bin/env python
"""Benchmark: `rawtune predict`'s start-up, the wall time from the command to its first prediction written.

Each backend predicts one sentence with a finished NER run (--run), so the time is start-up: the interpreter,
imports, loading the run and the model, one forward pass, writing the file. Backends: torch (the default) and
onnx-int8 (its converted model cached by an untimed first run, as after any first use). Beside them, what the
floor is made of: the interpreter with `import torch`, and with torch and transformers' AutoTokenizer. Runs are
interleaved (ABAB...), --repeats each; the median and spread are printed.

    python benchmarks/startup.py --run RUN --repeats 5
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    add_json,
    add_threads,
    begin,
    child_env,
    interleave,
    log,
    machine_line,
    markdown_table,
    median,
    new_parser,
    spread,
    write_payload,
)
from recipe import rawtune_command

SENTENCE = "EU rejects German call to boycott British lamb ."


def arms(cmd: list[str], run: Path, tmp: Path, threads: int | None) -> dict[str, list[str]]:
    text = tmp / "one.txt"
    text.write_text(SENTENCE + "\n", encoding="utf-8")
    predict = [*cmd, "predict", str(run), "--input", str(text), "--no-progress"]
    predict += ["--threads", str(threads)] if threads else []
    py = sys.executable
    return {
        "python -c 'import torch'": [py, "-c", "import torch"],
        "python -c 'import torch; from transformers import AutoTokenizer'": [
            py,
            "-c",
            "import torch; from transformers import AutoTokenizer",
        ],
        "rawtune predict (torch, defaults)": [*predict, "--output", str(tmp / "torch.jsonl")],
        "rawtune predict --backend onnx-int8": [
            *predict,
            "--output",
            str(tmp / "int8.jsonl"),
            "--backend",
            "onnx-int8",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    p = new_parser(__doc__)
    p.add_argument("--run", type=Path, required=True, help="a finished rawtune NER run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rawtune-cmd", default=None)
    add_threads(p)
    add_json(p)
    args = p.parse_args(argv)
    command, info = begin(__file__, argv, args.threads)
    cmd = rawtune_command(args.rawtune_cmd)
    if cmd is None:
        p.error("rawtune is not on PATH (or pass --rawtune-cmd)")
    secs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="rawtune-startup-") as name:
        runs = arms(cmd, args.run, Path(name), args.threads)
        for argv_ in runs.values():  # untimed: the OS file cache, the onnx-int8 conversion
            subprocess.run(argv_, check=True, capture_output=True, env=child_env(args.threads))
        for rep, label in interleave(list(runs), args.repeats):
            t0 = time.perf_counter()
            subprocess.run(runs[label], check=True, capture_output=True, env=child_env(args.threads))
            secs.setdefault(label, []).append(time.perf_counter() - t0)
            log(f"  [{rep + 1}/{args.repeats}] {label}: {secs[label][-1]:.2f} s")
    rows = []
    for label, values in secs.items():
        lo, hi = spread(values)
        rows.append([label, f"{median(values):.2f}", f"{lo:.2f}–{hi:.2f}"])
    table = markdown_table(["command", "median s", "spread s"], rows, "lrr")
    print(f"command: {command}")
    print(machine_line(info))
    print(f"run: {args.run}; {args.repeats} interleaved runs each, after one untimed run\n")
    print(table)
    write_payload(args.json, command, info, table=table, seconds=secs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
