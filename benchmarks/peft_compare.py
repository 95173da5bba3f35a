#!/usr/bin/env python
"""Benchmark: parameter-efficient tuning methods of `rawtune finetune` side by side (full, LoRA, IA3, BitFit,
prompt tuning, prefix tuning, bottleneck adapters) on CoNLL-2003 NER and, optionally, SST-2.

Same machine, same run, same backbone (packaged all-MiniLM-L6-v2, fresh task head), same files, same budget:
--epochs epochs, batch 16, rawtune's default schedule (linear, 10 % warm-up, weight decay 0.01, max 128 tokens),
no evaluation or checkpoint during training (eval/save interval 1,000,000 steps), final model. Only the method
and its learning rate differ: each method runs at rawtune's default for it (each method's options' `lr`,
chosen by a sweep on this benchmark; --lr-METHOD overrides,
--method-args passes extra `--tuning.*` flags to one method).

Tasks (--tasks):
  ner   CoNLL-2003: the first --train-sentences train sentences (default 3,000), the full dev set (3,250;
        --dev-sentences cuts it for smoke tests). Metric: metrics.json dev.f1 (seqeval strict IOB2, entity level).
  sst2  GLUE SST-2: a seeded random --train-examples subset of train (default 2,000, every label kept, as in
        cls_bench.py), the full dev set (872). Metrics: metrics.json dev.accuracy (Δ column) and dev.macro_f1.

Columns:
  trainable params / %   metrics.json train.parameters (trainable, percent of total)
  Δ vs full              dev metric minus the full fine-tuning row's
  train s, tokens/s      metrics.json train.train_seconds / train.tokens_per_s (training loop only)
  peak RSS MB            maximum resident set size of the whole `rawtune finetune` process (load, train, final dev
                         evaluation, save): GNU `/usr/bin/time -v` when present, else psutil polled every 0.2 s
                         (process and its children summed)
  artifact MB            what has to be stored per task: RUN/adapter/ if the run wrote one, else RUN/model/;
                         only `*.safetensors` and `*config.json` files, tokenizer files excluded
  % of full              artifact size relative to the full row's

Every run is a separate subprocess, run one after another. Data, logs and runs go to a temp dir.

Usage:
    python benchmarks/peft_compare.py                                    # NER, 3,000 sentences, 1 epoch, seed 1
    python benchmarks/peft_compare.py --train-sentences 3000 --epochs 2 --threads 2 --json peft.json
    python benchmarks/peft_compare.py --tasks ner,sst2 --methods full,lora --lr-lora 1e-3
    python benchmarks/peft_compare.py --method-args "lora=--tuning.lora_r 16" --method-args "prompt=--tuning.num_virtual_tokens 10"
    python benchmarks/peft_compare.py --train-sentences 64 --dev-sentences 200 --epochs 1   # smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpora import LABEL, TEXT, read_conll, read_sst2, sample_keeping_labels, write_conll, write_csv
from harness import (
    add_data_dir,
    add_outputs,
    add_threads,
    begin,
    child_env,
    fmt,
    json_args,
    log,
    machine_line,
    markdown_table,
    new_parser,
    parse_list,
    require,
    tail,
    workdir,
    write_payload,
)
from rawtune.config.options import TUNING_OPTIONS
from recipe import BATCH_SIZE, NEVER, minilm, quiet_flags, rawtune_command, rawtune_preflight

# rawtune's default learning rate of each method (train.lr unset); "freeze" is full with frozen parts
ORDER = ("full", "bitfit", "lora", "ia3", "prompt", "prefix", "adapter")
LRS = {m: TUNING_OPTIONS.get(m).lr for m in ORDER}
TASKS = {"ner": "CoNLL-2003 NER", "sst2": "SST-2"}
TIME_BIN = "/usr/bin/time"
RSS_POLL_S = 0.2


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def prepare_ner(args, tmp: Path) -> dict:
    conll = args.data_dir / "conll2003"
    train = read_conll(conll / "train.txt")[: args.train_sentences]
    dev = read_conll(conll / "dev.txt")
    if args.dev_sentences:
        dev = dev[: args.dev_sentences]
    files = {"train": str(tmp / "ner-train.conll"), "dev": str(tmp / "ner-dev.conll")}
    write_conll(train, Path(files["train"]))
    write_conll(dev, Path(files["dev"]))
    info = {"train": len(train), "dev": len(dev), "train_tokens": sum(map(len, train)), "unit": "sentences"}
    log(
        f"ner data: {len(train):,} train sentences ({info['train_tokens']:,} tokens), {len(dev):,} dev sentences"
    )
    return {"files": files, "info": info}


def prepare_sst2(args, tmp: Path) -> dict:
    rng = random.Random(args.data_seed)
    train = read_sst2(args.data_dir / "sst2" / "train.tsv")
    dev = read_sst2(args.data_dir / "sst2" / "dev.tsv")
    n_full = len(train)
    if args.train_examples < len(train):
        train = sample_keeping_labels(train, args.train_examples, rng)
    if args.dev_examples:
        dev = dev[: args.dev_examples]
    files = {"train": str(tmp / "sst2-train.csv"), "dev": str(tmp / "sst2-dev.csv")}
    write_csv(train, Path(files["train"]))
    write_csv(dev, Path(files["dev"]))
    info = {"train": len(train), "dev": len(dev), "train_pool": n_full, "unit": "examples"}
    log(f"sst2 data: {len(train):,} train examples (seed {args.data_seed} of {n_full:,}), {len(dev):,} dev")
    return {"files": files, "info": info}


# --------------------------------------------------------------------------------------------------------------
# Measuring one run
# --------------------------------------------------------------------------------------------------------------


def gnu_time_available() -> bool:
    """True if /usr/bin/time is GNU time (understands -v and -o)."""
    if not os.access(TIME_BIN, os.X_OK):
        return False
    with tempfile.NamedTemporaryFile(suffix=".time") as fh:
        try:
            proc = subprocess.run([TIME_BIN, "-v", "-o", fh.name, "true"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return proc.returncode == 0 and "Maximum resident set size" in Path(fh.name).read_text()


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        procs = [proc, *proc.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += p.memory_info().rss
    return total


def run_measured(
    cmd: list[str], log_path: Path, threads: int | None, timeout: float, use_time: bool
) -> tuple[int | None, float, int | None]:
    """Run cmd with its output in log_path and measure its peak RSS.
    Returns (exit code or None on timeout, wall seconds, peak RSS bytes or None)."""
    time_file = log_path.with_suffix(".time")
    full = [TIME_BIN, "-v", "-o", str(time_file), *cmd] if use_time else cmd
    peak: int | None = None
    t0 = time.perf_counter()
    with log_path.open("w") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        proc = subprocess.Popen(
            full, stdout=fh, stderr=subprocess.STDOUT, env=child_env(threads), start_new_session=True
        )
        ps = None
        if not use_time:
            import psutil

            try:
                ps = psutil.Process(proc.pid)
            except psutil.NoSuchProcess:
                ps = None
        rc: int | None = None
        while True:
            try:
                rc = proc.wait(timeout=RSS_POLL_S if ps else 5.0)
                break
            except subprocess.TimeoutExpired:
                if ps is not None:
                    peak = max(peak or 0, _tree_rss(ps))
                if time.perf_counter() - t0 > timeout:
                    os.killpg(proc.pid, 9)  # the run's own process group (start_new_session)
                    proc.wait()
                    rc = None
                    break
    wall = time.perf_counter() - t0
    if use_time and time_file.exists():
        m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", time_file.read_text())
        peak = int(m.group(1)) * 1024 if m else None
    return rc, wall, peak


def artifact_bytes(run: Path) -> tuple[str | None, int | None, int | None]:
    """(which dir, bytes of its *.safetensors + *config.json minus tokenizer files, bytes of the whole dir)."""
    for sub in ("adapter", "model"):
        d = run / sub
        if d.is_dir():
            files = [f for f in d.rglob("*") if f.is_file()]
            kept = [
                f
                for f in files
                if (f.name.endswith(".safetensors") or f.name.endswith("config.json"))
                and not f.name.startswith("tokenizer")
            ]
            return sub, sum(f.stat().st_size for f in kept), sum(f.stat().st_size for f in files)
    return None, None, None


def dir_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.is_dir() else 0


# --------------------------------------------------------------------------------------------------------------
# Parent: rawtune runs
# --------------------------------------------------------------------------------------------------------------


def finetune_command(
    args, cmd: list[str], task: str, method: str, model: str, files: dict, out: Path
) -> list:
    task_flags = (
        ["--task", "ner"]
        if task == "ner"
        else ["--task", "classification", "--text-column", TEXT, "--label-column", LABEL]
    )
    return [
        *cmd, "finetune",
        *task_flags,
        "--model", model,
        "--train", files["train"],
        "--dev", files["dev"],
        "--output", str(out),
        "--seed", str(args.seed),
        "--method", method,
        "--lr", str(args.lrs[method]),
        "--train.epochs", str(args.epochs),
        "--train.batch_size", str(BATCH_SIZE),
        *quiet_flags(args.threads),
        *shlex.split(args.rawtune_args or ""),
        *shlex.split(args.method_flags.get(method, "")),
    ]  # fmt: skip


def error_lines(log_path: Path, n: int = 6) -> str:
    """The last lines of a failed run's log, Traceback's final exception line first when there is one."""
    lines = [ln for ln in tail(log_path, 200).splitlines() if ln.strip()]
    exc = next((ln for ln in reversed(lines) if re.match(r"^[A-Za-z_.]+(Error|Exception)\b", ln)), None)
    last = lines[-n:]
    return "\n".join(([exc] if exc and exc not in last else []) + last)


def run_method(args, cmd: list[str], task: str, method: str, model: str, files: dict, tmp: Path) -> dict:
    out = tmp / f"{task}-{method}"
    full = finetune_command(args, cmd, task, method, model, files, out)
    log(f"  $ {shlex.join(full)}")
    log_path = tmp / f"{task}-{method}.log"
    rc, wall, peak = run_measured(full, log_path, args.threads, args.timeout, args.use_time)
    res: dict = {
        "task": task,
        "method": method,
        "lr": args.lrs[method],
        "command": shlex.join(full),
        "wall_s": wall,
        "peak_rss_bytes": peak,
        "peak_rss_source": "/usr/bin/time -v" if args.use_time else f"psutil every {RSS_POLL_S}s",
    }
    metrics_path = out / "metrics.json"
    if rc != 0 or not metrics_path.exists():
        why = f"timed out after {args.timeout:.0f}s" if rc is None else f"exit {rc}"
        res.update(failed=why, error=error_lines(log_path))
        log(f"  {task}/{method}: FAILED ({why}); log tail:\n{tail(log_path)}")
        return res
    metrics = json.loads(metrics_path.read_text())
    dev, train = metrics.get("dev") or {}, metrics.get("train") or {}
    params = train.get("parameters") or {}
    where, art, art_all = artifact_bytes(out)
    res.update(
        metric=dev.get("f1") if task == "ner" else dev.get("accuracy"),
        f1=dev.get("f1"),
        accuracy=dev.get("accuracy"),
        macro_f1=dev.get("macro_f1"),
        dev_loss=dev.get("loss"),
        trainable=params.get("trainable"),
        total=params.get("total"),
        percent=params.get("percent"),
        train_seconds=train.get("train_seconds"),
        tokens_per_s=train.get("tokens_per_s"),
        examples_per_s=train.get("examples_per_s"),
        examples=train.get("examples"),
        steps=train.get("steps"),
        artifact_dir=where,
        artifact_bytes=art,
        artifact_dir_bytes=art_all,
        checkpoints_bytes=dir_bytes(out / "checkpoints"),
    )
    log(
        f"  {task}/{method}: dev {fmt(res['metric'], '.4f')}, {fmt(res['trainable'], ',d')} trainable "
        f"({fmt(res['percent'], '.3f')} %), {fmt(res['train_seconds'])}s training, "
        f"peak RSS {fmt(mib(peak), ',.0f')} MB, {where}/ {fmt(mb(art), ',.2f')} MB"
    )
    return res


# --------------------------------------------------------------------------------------------------------------
# Parent: table
# --------------------------------------------------------------------------------------------------------------


def mb(n: int | None) -> float | None:
    return None if n is None else n / 1e6


def mib(n: int | None) -> float | None:
    return None if n is None else n / 2**20


def signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.4f}"


def render_table(task: str, results: list[dict], data: dict, info: dict, args, command: str) -> str:
    d = data["info"]
    ok = [r for r in results if "failed" not in r]
    full = next((r for r in ok if r["method"] == "full"), None)
    metric_name = "dev F1" if task == "ner" else "dev accuracy"
    if task == "ner":
        data_txt = f"CoNLL-2003 train (first {d['train']:,} sentences) -> dev ({d['dev']:,} sentences)"
    else:
        data_txt = (
            f"SST-2 train ({d['train']:,} of {d['train_pool']:,}, seeded sample, data seed {args.data_seed}) "
            f"-> dev ({d['dev']:,})"
        )
    lrs = ", ".join(f"{m} {args.lrs[m]:g}" for m in args.methods)
    extra = "; ".join(f"{m}: {args.method_flags[m]}" for m in args.methods if args.method_flags.get(m))
    sst2_col = task == "sst2"
    header = ["method", "trainable params", "trainable %", metric_name, "Δ vs full",
              *(["dev macro F1"] if sst2_col else []), "train s", "tokens/s", "peak RSS MB", "artifact MB",
              "artifact % of full"]  # fmt: skip
    rows = [
        table_row(r, full, sst2_col)
        if "failed" not in r
        else [r["method"], f"failed ({r['failed']})", *[""] * (len(header) - 2)]
        for r in results
    ]
    total = full.get("total") if full else None
    rss_src = "GNU /usr/bin/time -v" if args.use_time else f"psutil, polled every {RSS_POLL_S}s"
    out = [
        f"command: {command}",
        f"{TASKS[task]}, all-MiniLM-L6-v2, {data_txt}, {args.epochs:g} epoch(s), batch {BATCH_SIZE}, seed "
        f"{args.seed}, final model, no checkpoints; lr {lrs}"
        + (f"; method flags {extra}" if extra else "")
        + (f"; rawtune args {args.rawtune_args}" if args.rawtune_args else ""),
        machine_line(info),
        "",
        markdown_table(header, rows, "l" + "r" * (len(header) - 1)),
        "",
        (
            "dev F1: metrics.json dev.f1, entity level, seqeval strict IOB2. "
            if task == "ner"
            else "dev accuracy / macro F1: metrics.json dev.accuracy / dev.macro_f1. "
        )
        + "Δ vs full: minus the full row's. trainable %: of the run's total parameters, adapter included "
        + (f"(full: {total:,}; " if total else "(")
        + "metrics.json train.parameters). train s / tokens/s: metrics.json train.train_seconds / "
        "train.tokens_per_s (training loop only).",
        f"peak RSS: maximum resident set size of the whole rawtune process ({rss_src}): load, train, final dev "
        "evaluation, save; MB = 2^20 bytes. artifact: RUN/adapter/ if written, else RUN/model/; *.safetensors + "
        "*config.json, tokenizer files excluded; MB = 10^6 bytes. Checkpoints disabled (eval/save every "
        f"{NEVER:,} steps).",
    ]
    return "\n".join(out)


def table_row(r: dict, full: dict | None, sst2_col: bool) -> list[str]:
    delta = r["metric"] - full["metric"] if full and r["metric"] is not None else None
    art_pct = (
        f"{100 * r['artifact_bytes'] / full['artifact_bytes']:.2f} %"
        if full and r["artifact_bytes"] and full["artifact_bytes"]
        else "—"
    )
    return [
        r["method"], fmt(r["trainable"], ",d"), fmt(r["percent"], ".3f"), fmt(r["metric"], ".4f"),
        signed(delta) if r["method"] != "full" else "—", *([fmt(r["macro_f1"], ".4f")] if sst2_col else []),
        fmt(r["train_seconds"]), fmt(r["tokens_per_s"], ",.0f"), fmt(mib(r["peak_rss_bytes"]), ",.0f"),
        f"{fmt(mb(r['artifact_bytes']), ',.2f')} ({r['artifact_dir']}/)", art_pct,
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------


def parse_method_args(items: list[str], parser) -> dict[str, str]:
    flags: dict[str, str] = {}
    for item in items:
        method, sep, rest = item.partition("=")
        method = method.strip()
        if not sep or method not in LRS:
            parser.error(f"--method-args: expected METHOD=FLAGS with METHOD in {','.join(LRS)}, got {item!r}")
        flags[method] = f"{flags.get(method, '')} {rest}".strip()
    return flags


def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__.split("\n\n")[0])
    add_data_dir(p, "folder holding conll2003/ and sst2/")
    p.add_argument("--tasks", default="ner", help="comma-separated, any of ner,sst2 (default ner)")
    p.add_argument(
        "--methods", default=",".join(LRS), help=f"comma-separated, any of {','.join(LRS)} (default: all)"
    )
    p.add_argument("--train-sentences", type=int, default=3000, help="NER: first K train sentences (3,000)")
    p.add_argument(
        "--dev-sentences",
        type=int,
        default=None,
        help="NER: first K dev sentences (default all; smoke tests)",
    )
    p.add_argument(
        "--train-examples",
        type=int,
        default=2000,
        help="SST-2: seeded train subset, every label kept (2,000)",
    )
    p.add_argument(
        "--dev-examples",
        type=int,
        default=None,
        help="SST-2: first K dev examples (default all; smoke tests)",
    )
    p.add_argument("--data-seed", type=int, default=0, help="seed of the SST-2 train subset")
    p.add_argument("--epochs", type=float, default=1.0, help="fine-tuning epochs (default 1)")
    p.add_argument("--seed", type=int, default=1, help="training seed (default 1)")
    for m, lr in LRS.items():
        p.add_argument(f"--lr-{m}", type=float, default=lr, help=f"learning rate of {m} (default {lr:g})")
    p.add_argument(
        "--method-args",
        action="append",
        default=[],
        metavar="METHOD=FLAGS",
        help='extra rawtune flags for one method, e.g. "lora=--tuning.lora_r 16" (repeatable)',
    )
    add_threads(p)
    p.add_argument("--rawtune-args", default="", help="extra flags for every rawtune finetune run")
    p.add_argument(
        "--rawtune-cmd", default=None, help="command that runs the rawtune CLI (default: `rawtune` on PATH)"
    )
    p.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    add_outputs(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    tasks = parse_list(args.tasks, TASKS, "--tasks", p)
    args.methods = parse_list(args.methods, LRS, "--methods", p)
    args.lrs = {m: getattr(args, f"lr_{m}") for m in LRS}
    args.method_flags = parse_method_args(args.method_args, p)
    need = {"ner": ["conll2003/train.txt", "conll2003/dev.txt"], "sst2": ["sst2/train.tsv", "sst2/dev.tsv"]}
    require(p, args.data_dir, [f for t in tasks for f in need[t]])
    command, info = begin(__file__, argv, args.threads)
    model_path = minilm()
    args.use_time = gnu_time_available()
    log(f"peak RSS via {'GNU ' + TIME_BIN + ' -v' if args.use_time else 'psutil polling'}")
    cmd = rawtune_command(args.rawtune_cmd)
    reason = rawtune_preflight(cmd, args.threads, ("finetune",))
    if reason:
        print(f"rawtune unavailable: {reason}")
        return 1
    assert cmd is not None

    results: dict[str, list[dict]] = {}
    datas: dict[str, dict] = {}
    with workdir("rawtune-peft-bench-", args.keep_tmp) as tmp:
        for task in tasks:
            data = prepare_ner(args, tmp) if task == "ner" else prepare_sst2(args, tmp)
            datas[task] = data
            results[task] = []
            for method in args.methods:
                log(f"[{task}/{method}] lr {args.lrs[method]:g} ...")
                results[task].append(run_method(args, cmd, task, method, model_path, data["files"], tmp))

    tables = {t: render_table(t, results[t], datas[t], info, args, command) for t in results}
    print("\n\n".join(tables.values()))
    failed = [r for t in results for r in results[t] if "failed" in r]
    for r in failed:
        print(f"\nfailed {r['task']}/{r['method']} ({r['failed']}):\n$ {r['command']}\n{r['error']}")
    write_payload(args.json, command, info, args=json_args(args, drop=("method_args",)),
                  data={t: d["info"] for t, d in datas.items()}, results=results, tables=tables)  # fmt: skip
    return 0 if not failed and any(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
