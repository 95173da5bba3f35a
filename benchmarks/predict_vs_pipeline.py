#!/usr/bin/env python
"""Benchmark: batch prediction with `rawtune predict` vs `transformers.pipeline("token-classification")`,
same NER model, same inputs, same threads.

Inputs: the CoNLL-2003 dev sentences (3,250) as raw text, one sentence per line (its tokens joined by spaces),
written to one .txt file. The model is a finished `rawtune finetune` NER run (--run); the pipeline loads the same
weights from RUN/model with AutoModelForTokenClassification + AutoTokenizer (fp32, CPU).

Rows:
  rawtune            `Predictor.predict_file` (what `rawtune predict RUN --input dev.txt --output out.jsonl` runs):
                     .txt in, JSON lines out, --batch-size (32), inputs grouped by length within chunks of 64 batches.
  rawtune bf16       the same with the weights cast to bf16 (`rawtune predict --dtype bf16`); not the fp32 target,
                     shown for what the CPU's BF16 units give.
  rawtune CLI        `rawtune predict` in a subprocess, its whole wall time: start-up, model load, prediction;
                     its defaults (`--dtype auto`: bf16 where this machine runs it faster).
  rawtune CLI int8   the same with `--backend onnx-int8` (ONNX Runtime, per-channel int8; the conversion is cached
                     per run, and made by the untimed warm-up run).
  pipeline first/B   pipeline(..., aggregation_strategy="first") called on the list of lines with batch_size=B, for
                     each B of --pipeline-batch-sizes (1 is the pipeline's default).
  pipeline simple/B  aggregation_strategy="simple" at the last of those batch sizes.
  pipeline bf16      with --pipeline-bf16: `pipeline(..., dtype=torch.bfloat16)`, first, the last batch size (the
                     peer's documented precision switch; use it where bf16 is faster on the machine).
Timing: after a warm-up on 64 lines, wall time of the call (model load excluded except in the CLI rows); rows run one
after another in this process, interleaved when --repeats > 1 (the median is reported). The CLI rows run once
untimed (the OS file cache, the int8 conversion), then --repeats times, interleaved with each other. The pipeline's outputs stay
in memory; rawtune's timing includes reading the file and writing the JSON lines.

Agreement: per sentence, the set of (start, end, type) character spans of one row equals rawtune fp32's; "same-word
sentences" restricts that to sentences where rawtune and the pipeline split the text into the same words (rawtune:
its CoNLL-like word splitter, "U.S." one word; the pipeline: a word ends wherever the tokenizer's pre-tokenizer
splits, so "U.S." is four words, each labelled from its own first sub-token). Entity F1: exact (start, end, type)
match against the gold CoNLL entities mapped to the same line's characters.

Usage:
    python benchmarks/predict_vs_pipeline.py --run /tmp/sweep/runs/full_1e-4 --threads 2
    python benchmarks/predict_vs_pipeline.py --run RUN --dev-sentences 200 --pipeline-batch-sizes 1,8   # smoke test
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from corpora import read_conll, words_and_tags
from harness import (
    add_data_dir,
    add_json,
    add_threads,
    begin,
    child_env,
    interleave,
    log,
    machine_line,
    markdown_table,
    new_parser,
    write_payload,
)
from recipe import rawtune_command

WARMUP = 64
ROWS = ["rawtune", "rawtune-bf16", "cli", "cli-int8", "pipeline"]

Spans = set[tuple[int, int, str]]
Scored = dict[tuple[int, int, str], float]  # entity span -> score


# --------------------------------------------------------------------------------------------------------------
# Data: lines, gold spans, word boundaries
# --------------------------------------------------------------------------------------------------------------


def lines_and_gold(path: Path, limit: int | None) -> tuple[list[str], list[Spans]]:
    """Each sentence as its tokens joined by one space, and its gold entities as character spans there."""
    from seqeval.metrics.sequence_labeling import get_entities

    words, tags = words_and_tags(read_conll(path)[:limit])
    lines, gold = [], []
    for ws, ts in zip(words, tags):
        starts, at = [], 0
        for w in ws:
            starts.append(at)
            at += len(w) + 1
        lines.append(" ".join(ws))
        gold.append({(starts[s], starts[e] + len(ws[e]), t) for t, s, e in get_entities(ts)})
    return lines, gold


def pipeline_words(tokenizer, line: str) -> list[tuple[int, int]]:
    """Word spans as TokenClassificationPipeline.gather_pre_entities decides them: a token continues the word
    before it when it is a continuation piece ("##s"); an unknown token starts a word."""
    enc = tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    prefix = getattr(getattr(tokenizer, "_tokenizer", None), "model", None)
    prefix = getattr(prefix, "continuing_subword_prefix", None)
    spans: list[list[int]] = []
    for tok, tid, (s, e) in zip(tokens, enc["input_ids"], enc["offset_mapping"]):
        if prefix:
            sub = len(tok) != len(line[s:e])
        else:  # the pipeline's fallback heuristic
            sub = s > 0 and " " not in line[s - 1 : s + 1]
        if tid == tokenizer.unk_token_id:
            sub = False
        if sub and spans:
            spans[-1][1] = e
        else:
            spans.append([s, e])
    return [(s, e) for s, e in spans]


def rawtune_words(line: str) -> list[tuple[int, int]]:
    from rawtune.data.words import split_words

    return [(s, e) for _, s, e in split_words(line)]


# --------------------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def record_spans(recs: list[dict]) -> list[Scored]:
    return [{(e["start"], e["end"], e["type"]): e["score"] for e in r["entities"]} for r in recs]


def pipeline_spans(out: list[list[dict]]) -> list[Scored]:
    return [{(e["start"], e["end"], e["entity_group"]): float(e["score"]) for e in ents} for ents in out]


def build_rows(args, tmp: Path, dev_txt: Path, lines: list[str]) -> list[dict]:
    """Each row: name, settings and a `run()` returning its entity spans per line; loaded and warmed up."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    from rawtune.serve.predictor import Predictor

    warm = tmp / "warm.txt"
    warm.write_text("\n".join(lines[:WARMUP]) + "\n", encoding="utf-8")
    rows: list[dict] = []

    def rawtune_row(name: str, dtype: str | None) -> dict:
        pred = Predictor.from_run(args.run, device="cpu", dtype=dtype)
        out = tmp / f"{name}.jsonl"
        pred.predict_file(str(warm), str(out), batch_size=args.batch_size, progress=False)

        def run() -> list[Scored]:
            pred.predict_file(str(dev_txt), str(out), batch_size=args.batch_size, progress=False)
            return record_spans(read_records(out))

        settings = f"batch {args.batch_size}, {dtype or 'fp32'}"
        return {"name": name, "settings": settings, "run": run, "pred": pred}

    if "rawtune" in args.rows:
        rows.append(rawtune_row("rawtune", None))
    if "rawtune-bf16" in args.rows:
        rows.append(rawtune_row("rawtune bf16", "bf16"))
    if "pipeline" in args.rows:
        model = AutoModelForTokenClassification.from_pretrained(str(args.run / "model"), dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(args.run / "model"))
        sizes = args.pipeline_batch_sizes
        arms = [("first", b, "fp32") for b in sizes] + [("simple", sizes[-1], "fp32")]
        arms += [("first", sizes[-1], "bf16")] if args.pipeline_bf16 else []
        for agg, batch, dtype in arms:
            m = (
                model
                if dtype == "fp32"
                else AutoModelForTokenClassification.from_pretrained(
                    str(args.run / "model"), dtype=torch.bfloat16
                )
            )
            pipe = pipeline(
                "token-classification", model=m, tokenizer=tok, aggregation_strategy=agg, device="cpu"
            )
            pipe(lines[:WARMUP], batch_size=batch)

            def run(pipe=pipe, batch=batch) -> list[Scored]:
                return pipeline_spans(pipe(lines, batch_size=batch))

            name = f"pipeline {agg}" + (" bf16" if dtype == "bf16" else "")
            rows.append({"name": name, "settings": f"batch_size={batch}, {dtype}", "run": run, "tok": tok})
    return rows


def time_rows(rows: list[dict], repeats: int, n: int) -> None:
    """Every row once per repeat, interleaved (the load of a shared machine drifts)."""
    for rep, row in interleave(rows, repeats):
        t0 = time.perf_counter()
        spans = row["run"]()
        secs = time.perf_counter() - t0
        row.setdefault("secs", []).append(secs)
        row.setdefault("scored", spans)
        row.setdefault("spans", [set(s) for s in spans])
        log(f"  [{rep + 1}/{repeats}] {row['name']} ({row['settings']}): {n / secs:,.1f} sentences/s")


def cli_rows(args, tmp: Path, dev_txt: Path) -> list[dict]:
    """`rawtune predict` as a user runs it, whole wall time: default settings, and `--backend onnx-int8` (with
    the cli-int8 row); each run once untimed, then --repeats times interleaved."""
    cmd = rawtune_command(args.rawtune_cmd)
    if cmd is None:
        log("rawtune is not on PATH: no CLI row")
        return []
    arms = [("rawtune CLI", [], "incl. start-up + load, defaults")] if "cli" in args.rows else []
    if "cli-int8" in args.rows:
        arms.append(("rawtune CLI int8", ["--backend", "onnx-int8"], "incl. start-up + load, onnx-int8"))
    rows = []
    for name, extra, settings in arms:
        out = tmp / f"{name.replace(' ', '-')}.jsonl"
        argv = [
            *cmd,
            "predict",
            str(args.run),
            "--input",
            str(dev_txt),
            "--output",
            str(out),
            "--no-progress",
        ]
        argv += ["--batch-size", str(args.batch_size), *extra]
        argv += ["--threads", str(args.threads)] if args.threads else []
        rows.append({"name": name, "settings": settings, "argv": argv, "out": out, "secs": []})
    for rep in [-1, *range(args.repeats)]:  # -1: the untimed warm-up
        for row in rows:
            if rep == -1:
                log(f"  {shlex.join(row['argv'])}")
            t0 = time.perf_counter()
            proc = subprocess.run(row["argv"], capture_output=True, text=True, env=child_env(args.threads))
            secs = time.perf_counter() - t0
            if proc.returncode != 0:
                log(f"  {row['name']} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
                return [r for r in rows if r is not row and r["secs"]]
            if rep >= 0:
                row["secs"].append(secs)
                log(f"  [{rep + 1}/{args.repeats}] {row['name']}: {secs:.1f} s")
    for row in rows:
        row["scored"] = record_spans(read_records(row["out"]))
        row["spans"] = [set(s) for s in row["scored"]]
    return rows


# --------------------------------------------------------------------------------------------------------------
# Agreement and the table
# --------------------------------------------------------------------------------------------------------------


def f1(pred: list[Spans], gold: list[Spans]) -> float:
    tp = sum(len(p & g) for p, g in zip(pred, gold))
    n_pred, n_gold = sum(map(len, pred)), sum(map(len, gold))
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 1.0


def why_different(ref: list[Spans], other: list[Spans], same_words: list[bool], windowed: list[bool]) -> dict:
    causes = {"words differ": 0, "windowed (rawtune)": 0, "other": 0}
    for i, (a, b) in enumerate(zip(ref, other)):
        if a != b:
            key = "windowed (rawtune)" if windowed[i] else "words differ" if not same_words[i] else "other"
            causes[key] += 1
    return causes


def score_gap(ref: list[Scored], other: list[Scored], same_words: list[bool]) -> tuple[int, float]:
    """Entities found by both in same-word sentences, and the largest difference of their scores."""
    gaps = [abs(a[k] - b[k]) for a, b, w in zip(ref, other, same_words) if w for k in a.keys() & b.keys()]
    return len(gaps), max(gaps, default=0.0)


def examples(lines, ref, other, same_words, k: int) -> list[str]:
    out = []
    for line, a, b, same in zip(lines, ref, other, same_words):
        if a != b and len(out) < k:
            only_a = sorted((line[s:e], t) for s, e, t in a - b)
            only_b = sorted((line[s:e], t) for s, e, t in b - a)
            tag = "" if not same else " [same words]"
            out.append(f"  - `{line[:90]}`{tag}: rawtune only {only_a}, pipeline only {only_b}")
    return out


def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a finished rawtune finetune NER run")
    add_data_dir(p, "folder holding conll2003/")
    p.add_argument("--dev-sentences", type=int, default=None, help="the first N dev sentences (smoke tests)")
    add_threads(p)
    p.add_argument("--batch-size", type=int, default=32, help="rawtune's")
    p.add_argument(
        "--pipeline-batch-sizes", default="1,8,32", help="pipeline first rows; simple uses the last"
    )
    p.add_argument("--rows", default=",".join(ROWS), help=f"any of {','.join(ROWS)}")
    p.add_argument("--pipeline-bf16", action="store_true", help="also a bf16 pipeline row (see above)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--examples", type=int, default=6, help="differing sentences to show")
    p.add_argument("--rawtune-cmd", default=None)
    add_json(p)
    return p


def measure(args, lines: list[str]) -> tuple[list[dict], dict]:
    """Every row timed (interleaved over --repeats) and its spans; plus what the comparison needs to know
    of the lines: rawtune's window, word-piece lengths, windowed and same-word sentences."""
    n = len(lines)
    with tempfile.TemporaryDirectory(prefix="rawtune-predict-bench-") as tmp_name:
        tmp = Path(tmp_name)
        dev_txt = tmp / "dev.txt"
        dev_txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
        log(f"{n:,} sentences; loading and warming up")
        rows = build_rows(args, tmp, dev_txt, lines)
        time_rows(rows, args.repeats, n)
        rows[1:1] = cli_rows(args, tmp, dev_txt)
        pred = rows[0]["pred"]
        tok = pred.tokenizer
        window = pred.cfg.data.max_length - tok.num_special_tokens_to_add(pair=False)
        lengths = [len(ids) for ids in tok(lines, add_special_tokens=False)["input_ids"]]
        same_words = [rawtune_words(line) == pipeline_words(tok, line) for line in lines]
    windowed = [n_tok > window for n_tok in lengths]
    return rows, {"window": window, "lengths": lengths, "windowed": windowed, "same_words": same_words}


def compare(rows: list[dict], lines: list[str], gold: list, seen: dict) -> tuple[str, list[dict]]:
    """The table, and each row's figures for the JSON: speed, agreement with rawtune fp32, F1."""
    n, same_words = len(lines), seen["same_words"]
    ref_row = rows[0]
    ref = ref_row["spans"]
    base = n / statistics.median(ref_row["secs"])
    header = ["system", "settings", "sentences/s", "rawtune is x faster", "same entities as rawtune",
              f"same, same-word sentences ({sum(same_words):,})", "entity F1 vs gold"]  # fmt: skip
    table, report = [], []
    for row in rows:
        rate = n / statistics.median(row["secs"])
        same = sum(a == b for a, b in zip(ref, row["spans"]))
        same_sw = sum(a == b for a, b, w in zip(ref, row["spans"], same_words) if w)
        table.append([row["name"], row["settings"], f"{rate:,.1f}", f"{base / rate:.2f}x",
                      f"{same:,} ({100 * same / n:.1f} %)", f"{100 * same_sw / max(sum(same_words), 1):.1f} %",
                      f"{f1(row['spans'], gold):.4f}"])  # fmt: skip
        causes = why_different(ref, row["spans"], same_words, seen["windowed"])
        matched, gap = score_gap(ref_row["scored"], row["scored"], same_words)
        report.append({"row": row["name"], "settings": row["settings"], "sentences_per_s": rate, "same": same,
                       "same_same_words": same_sw, "f1": f1(row["spans"], gold), "differ_because": causes,
                       "score_gap": {"entities": matched, "max": gap}, "secs": row["secs"]})  # fmt: skip
    return markdown_table(header, table, "llrrrrr"), report


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    args.pipeline_batch_sizes = [int(b) for b in args.pipeline_batch_sizes.split(",") if b.strip()]
    if "rawtune" not in args.rows or any(r not in ROWS for r in args.rows):
        p.error(f"--rows: rawtune and any of {','.join(ROWS[1:])}")
    warnings.filterwarnings("ignore")
    command, info = begin(__file__, argv, args.threads)
    lines, gold = lines_and_gold(args.data_dir / "conll2003" / "dev.txt", args.dev_sentences)
    rows, seen = measure(args, lines)
    table, report = compare(rows, lines, gold, seen)
    print(f"command: {command}")
    print(machine_line(info))
    print(
        f"run: {args.run}; inputs: {len(lines):,} CoNLL-2003 dev sentences as text lines ({sum(seen['lengths']):,} "
        f"word pieces; {sum(seen['windowed'])} longer than the run's {seen['window']}-piece window); threads: "
        f"{info['torch_threads']}\n"
    )
    print(table)
    print("\nWhy sentences differ from rawtune fp32:")
    for r in report[1:]:
        why = ", ".join(f"{k} {v}" for k, v in r["differ_because"].items())
        gap = r["score_gap"]
        print(
            f"- {r['row']} ({r['settings']}): {why}; the {gap['entities']:,} entities both find in same-word "
            f"sentences differ in score by at most {gap['max']:.2g} (rawtune rounds to 4 decimals)"
        )
    first = next((r for r in rows if r["name"] == "pipeline first"), None)
    if first is not None:
        print("\nSentences where rawtune and `pipeline first` differ:")
        print("\n".join(examples(lines, rows[0]["spans"], first["spans"], seen["same_words"], args.examples)))
    write_payload(args.json, command, info, rows=report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
