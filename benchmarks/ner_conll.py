#!/usr/bin/env python
"""Benchmark: NER fine-tuning on CoNLL-2003, `rawtune finetune` (plain, after TAPT, after DAPT+TAPT) vs the
Hugging Face Trainer recipe.

Same machine, same run, same backbone (packaged all-MiniLM-L6-v2), same training sentences (the first
--train-sentences of CoNLL-2003 train, written to one file that both sides read), same budget: --epochs epochs,
batch 16, lr 5e-5, linear schedule with 10 % warm-up, weight decay 0.01, max 128 tokens. Both sides report the
final model (no best-checkpoint selection). Prints a Markdown table of dev entity F1 (mean ± std over --seeds),
training speed in train sentences per second, its ratio to the HF row, and the wall time of every stage.

Rows (--rows):
  hf       transformers' examples/pytorch/token-classification/run_ner.py recipe, in a subprocess: CoNLL read by
           this script, tokenize_and_align_labels (first sub-token labelled, others -100, truncation to 128),
           AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer.
  rawtune  `rawtune finetune --task ner --model MiniLM ...`.
  tapt     `rawtune pretrain` (MLM) on the same train sentences as raw text for --tapt-steps, then finetune the run.
  dapt     `rawtune pretrain` on Reuters-21578 <BODY> text for --dapt-steps, TAPT from that run, then finetune.

Metrics:
  dev F1 (own)    HF: seqeval's default (lenient, conlleval-like) entity F1, as run_ner.py reports it, on word-level
                  tags from the first sub-token; words cut off by the 128-token truncation count as "O" predictions.
                  rawtune: `dev.f1` of the run's metrics.json, which is seqeval *strict* IOB2 (rawtune's windows
                  cover every word). Compare the shared-eval columns across rows.
  shared eval     every final model (HF and rawtune) is scored by the same code in this script (the HF path
                  above): seqeval default F1 and strict IOB2 F1.
  sentences/s     training only: train sentences x epochs / training seconds (HF: Trainer's train_runtime;
                  rawtune: metrics.json train.train_seconds). Model load, tokenisation and evaluation excluded.

Every run is a separate subprocess, run one after another. Data, logs and models go to a temp dir.

Usage:
    python benchmarks/ner_conll.py                                      # all 14,041 sentences, 1 epoch, seed 1
    python benchmarks/ner_conll.py --seeds 1,2,3 --epochs 3 --json ner.json
    python benchmarks/ner_conll.py --train-sentences 64 --tapt-steps 2 --dapt-steps 2 --dapt-docs 200  # smoke
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

from corpora import read_conll, reuters_to_text, write_conll, write_raw_text
from harness import (
    add_data_dir,
    add_outputs,
    add_seeds,
    add_threads,
    begin,
    fmt,
    log,
    machine_line,
    markdown_table,
    mean_std,
    median,
    new_parser,
    parse,
    parse_list,
    per_seed,
    ratio,
    require,
    workdir,
)
from ner_hf import worker_eval, worker_hf
from recipe import (
    BATCH_SIZE,
    LR,
    MAX_LENGTH,
    WARMUP_RATIO,
    WEIGHT_DECAY,
    Bench,
    add_versus_flags,
    finetune,
    finetune_flags,
    finish,
    quiet_flags,
    report_text,
    run_stage,
    versus,
    versus_run,
)

PRETRAIN_BATCH = 32
PRETRAIN_SEQ_LEN = 128
ROWS = {"hf": "hf", "rawtune": "rawtune", "tapt": "rawtune+tapt", "dapt": "rawtune+dapt+tapt"}


# --- the parent: data and rawtune stages -----------------------------------------------------------------------
def prepare_data(args, tmp: Path, rows: list[str]) -> dict:
    conll = args.data_dir / "conll2003"
    train = read_conll(conll / "train.txt")
    if args.train_sentences:
        train = train[: args.train_sentences]
    dev = read_conll(conll / "dev.txt")
    if args.dev_sentences:
        dev = dev[: args.dev_sentences]
    files = {"train": str(tmp / "train.conll"), "dev": str(tmp / "dev.conll"), "tapt": str(tmp / "tapt.txt")}
    write_conll(train, Path(files["train"]))
    write_conll(dev, Path(files["dev"]))
    write_raw_text(train, Path(files["tapt"]))
    info = {"train_sentences": len(train), "dev_sentences": len(dev), "train_tokens": sum(map(len, train))}
    log(f"data: {len(train):,} train sentences ({info['train_tokens']:,} tokens), {len(dev):,} dev sentences")
    if "dapt" in rows:
        files["dapt"] = str(tmp / "reuters.txt")
        n, chars = reuters_to_text(args.data_dir / "reuters21578", Path(files["dapt"]), args.dapt_docs)
        info.update(dapt_docs=n, dapt_chars=chars)
        log(f"data: Reuters-21578 bodies, {n:,} documents, {chars:,} characters")
    return {"files": files, "info": info}


def run_pretrain(
    b: Bench, model: str, corpus: str, steps: int, lr: float, seed: int, out: Path
) -> dict | None:
    args = b.args
    flags = [
        "--model", model,
        "--corpus", corpus,
        "--output", str(out),
        "--seed", str(seed),
        "--train.max_steps", str(steps),
        "--train.batch_size", str(PRETRAIN_BATCH),
        "--train.lr", str(lr),
        "--data.seq_len", str(PRETRAIN_SEQ_LEN),
        "--data.validation_split", "0.02",
        "--data.max_validation_blocks", "64",
        "--data.cache_dir", str(b.tmp / "rawtune-cache"),
        *quiet_flags(args.threads, last_model=False),
        *shlex.split(args.pretrain_args or ""),
    ]  # fmt: skip
    metrics, wall = run_stage(b.cmd, "pretrain", flags, out, args.threads, args.timeout)
    if metrics is None:
        return None
    log(f"  pretrain {out.name}: {wall:.1f}s wall")
    return {
        "run_dir": str(out),
        "wall_s": wall,
        "train_seconds": metrics.get("train_seconds"),
        "tokens_per_s": metrics.get("tokens_per_s"),
        "steps": steps,
        "before": metrics.get("before"),
        "after": metrics.get("after"),
    }


def pretrain_stage(b: Bench, kind: str, seed: int, rep: int) -> dict | None:
    """kind: 'dapt' (MiniLM on Reuters), 'tapt' (MiniLM on train text), 'dapt+tapt' (DAPT run on train);
    each once per (seed, repeat), or once in all with --share-pretrain."""
    args, files = b.args, b.files
    key = (kind, args.seeds[0], 0) if args.share_pretrain else (kind, seed, rep)
    if key in b.cache:
        res = b.cache[key]
        return {**res, "reused": True} if res else None
    name = f"pretrain-{kind.replace('+', '-')}-s{key[1]}-r{key[2]}"
    log(f"[{name}] rawtune pretrain ...")
    if kind == "dapt+tapt":
        base = pretrain_stage(b, "dapt", seed, rep)
        res = None
        if base:
            res = run_pretrain(
                b, base["run_dir"], files["tapt"], args.tapt_steps, args.tapt_lr, key[1], b.tmp / name
            )
    else:
        corpus, steps, lr = (
            (files["dapt"], args.dapt_steps, args.dapt_lr)
            if kind == "dapt"
            else (files["tapt"], args.tapt_steps, args.tapt_lr)
        )
        res = run_pretrain(b, b.model, corpus, steps, lr, key[1], b.tmp / name)
    b.cache[key] = res
    return {**res, "reused": False} if res else None


def run_finetune(b: Bench, model: str, seed: int, out: Path) -> dict | None:
    args = b.args
    flags = finetune_flags(["--task", "ner"], b, model, seed, out)
    done = finetune(b, flags, out)
    if done is None:
        return None
    dev, train, wall = done
    secs = train.get("train_seconds")
    examples = train.get("examples")
    return {
        "f1": dev.get("f1"),
        "precision": dev.get("precision"),
        "recall": dev.get("recall"),
        "dev_loss": dev.get("loss"),
        "uncovered_words_rawtune": dev.get("uncovered_words"),
        "train_seconds": secs,
        "sentences_per_s": examples * args.epochs / secs if secs and examples else None,
        "examples_per_s_reported": train.get("examples_per_s"),
        "tokens_per_s_reported": train.get("tokens_per_s"),
        "examples": examples,
        "features": train.get("features"),
        "steps": train.get("steps"),
        "best_step": train.get("best_step"),
        "finetune_wall_s": wall,
        "metrics_json": str(out / "metrics.json"),
        "model_dir": str(out / "model"),
        "report_md": str(out / "eval" / "dev" / "report.md"),
        "token_report": dev.get("token_report"),
    }


def run_rawtune(b: Bench, rep: int, seed: int, row: str, name: str) -> dict | str:
    """A rawtune row: pretraining first (tapt, dapt), then `rawtune finetune`."""
    stages: dict[str, dict] = {}
    model = b.model
    if row in ("tapt", "dapt"):
        if row == "dapt":
            dapt = pretrain_stage(b, "dapt", seed, rep)
            if dapt:
                stages["dapt"] = dapt
        tapt = pretrain_stage(b, "tapt" if row == "tapt" else "dapt+tapt", seed, rep)
        if tapt is None:
            return f"{name}: pretraining failed (see log above)"
        stages["tapt"] = tapt
        model = tapt["run_dir"]
    res = run_finetune(b, model, seed, b.tmp / name)
    if res is None:
        return f"{name}: rawtune finetune failed (see log above)"
    return {**res, "pretrain_stages": stages}


def run_one(b: Bench, rep: int, seed: int, row: str) -> dict | str:
    """One run of a row for a seed: its result, or why the row is broken."""
    return versus_run(
        b, rep, seed, row, ROWS[row],
        lambda name, seed: run_rawtune(b, rep, seed, row, name),
        lambda r: f"dev F1 {fmt(r.get('f1'), '.4f')}, {fmt(r.get('sentences_per_s'))} sentences/s, "
        f"{fmt(r.get('train_seconds'))}s training",
    )  # fmt: skip


# --- the parent: summary and tables ----------------------------------------------------------------------------
def summarize(row: str, runs: list[dict], eval_results: dict) -> dict:
    for r in runs:
        if row == "hf":  # the HF row is scored by the shared code already
            r.update(shared_f1=r["f1"], shared_f1_strict=r["f1_strict"])
        shared = eval_results.get(r["name"]) or {}
        if "error" not in shared and shared:
            r["shared_f1"], r["shared_f1_strict"] = shared["f1"], shared["f1_strict"]
            r["shared_uncovered_words"] = shared.get("uncovered_words")
        elif "error" in shared:
            r["shared_error"] = shared["error"]
    stages = sorted({k for r in runs for k in r.get("pretrain_stages", {})}, key=["dapt", "tapt"].index)
    return {
        "row": ROWS[row],
        "key": row,
        "seeds": sorted({r["seed"] for r in runs}),
        "f1": per_seed(runs, lambda r: r.get("f1")),
        "shared_f1": per_seed(runs, lambda r: r.get("shared_f1")),
        "shared_f1_strict": per_seed(runs, lambda r: r.get("shared_f1_strict")),
        "sentences_per_s": median([r.get("sentences_per_s") for r in runs]),
        "train_seconds": median([r.get("train_seconds") for r in runs]),
        "pretrain_wall_s": {
            s: median([r["pretrain_stages"][s]["wall_s"] for r in runs if s in r.get("pretrain_stages", {})])
            for s in stages
        },
        "finetune_wall_s": median([r.get("finetune_wall_s") for r in runs]),
        "runs": runs,
    }


def render_table(summaries: list[dict], info: dict, data: dict, args, command: str) -> str:
    hf = next((s for s in summaries if s["key"] == "hf"), None)
    hf_speed = hf["sentences_per_s"] if hf else None
    d = data["info"]
    pre = []
    if any(s["key"] == "tapt" or s["key"] == "dapt" for s in summaries):
        pre.append(f"TAPT {args.tapt_steps} steps")
    if any(s["key"] == "dapt" for s in summaries):
        pre.append(f"DAPT {args.dapt_steps} steps on {d.get('dapt_docs', 0):,} Reuters-21578 documents")
    rows = []
    for s in summaries:
        speed = s["sentences_per_s"]
        pw = s["pretrain_wall_s"]
        rows.append([
            s["row"], ",".join(map(str, s["seeds"])), mean_std(s["f1"]), mean_std(s["shared_f1"]),
            mean_std(s["shared_f1_strict"]), fmt(speed), ratio(speed, hf_speed),
            fmt(s["train_seconds"]), " + ".join(f"{k} {fmt(v, '.0f')}" for k, v in pw.items()) if pw else "—",
            fmt(s["finetune_wall_s"], ".0f"),
        ])  # fmt: skip
    uncovered = next(
        (r.get("shared_uncovered_words", r.get("uncovered_words")) for s in summaries for r in s["runs"]),
        None,
    )
    header = ["row", "seeds", "dev F1 (own)", "dev F1 (shared eval)", "strict F1 (shared eval)", "train sent/s",
              "vs hf", "train s", "pretrain wall s", "finetune wall s"]  # fmt: skip
    return "\n".join([
        f"command: {command}",
        f"NER fine-tuning, all-MiniLM-L6-v2, CoNLL-2003 train ({d['train_sentences']:,} sentences) -> dev "
        f"({d['dev_sentences']:,}), {args.epochs:g} epoch(s), batch {BATCH_SIZE}, lr {LR}, warm-up {WARMUP_RATIO}, "
        f"weight decay {WEIGHT_DECAY}, max {MAX_LENGTH} tokens, final model; seeds {','.join(map(str, args.seeds))}"
        + (f", {args.repeat} repeats (speed: median)" if args.repeat > 1 else "")
        + (f"; pretraining (MLM, batch {PRETRAIN_BATCH} x {PRETRAIN_SEQ_LEN}): " + ", ".join(pre) if pre else ""),
        machine_line(info),
        "",
        markdown_table(header, rows, "llrrrrrrrr"),
        "",
        "dev F1: entity-level, mean ± std over seeds. own = what each recipe reports: HF the run_ner.py way, seqeval "
        "default (lenient) mode; rawtune metrics.json dev.f1, seqeval strict IOB2, windows over long sentences. "
        "shared eval = the same code for every final model, seqeval default mode unless strict: first sub-token, "
        f"max {MAX_LENGTH} tokens, cut-off words predicted O"
        + (f" ({uncovered} dev words)" if uncovered is not None else "")
        + "; strict = seqeval mode='strict', IOB2.",
        "train sent/s = train sentences x epochs / training seconds (HF: Trainer train_runtime; rawtune: "
        "metrics.json train.train_seconds); wall s = whole subprocess (load, tokenise, train, evaluate, save).",
    ])  # fmt: skip


def token_reports(summaries: list[dict]) -> str:
    rt = [s for s in summaries if s["key"] != "hf" and s["f1"]]
    out = []
    if rt:
        best = max(rt, key=lambda s: statistics.fmean(s["f1"]))
        run = next((r for r in best["runs"] if r.get("token_report")), None)
        if run:
            out += [
                f"\nper-tag token report, {best['row']} (seed {run['seed']}), from {run['metrics_json']}:",
                "```",
                report_text(run["token_report"]),
                "```",
            ]
        else:
            out.append(f"\n{best['row']}: metrics.json has no dev.token_report")
    hf = next((s for s in summaries if s["key"] == "hf"), None)
    hf_run = next((r for r in hf["runs"] if r.get("token_report")), None) if hf else None
    if hf_run:
        out += [
            f"\nper-tag token report, hf (seed {hf_run['seed']}), shared eval:",
            "```",
            report_text(hf_run["token_report"]),
            "```",
        ]
    return "\n".join(out)


# --- main ------------------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__.split("\n\n")[0], worker=True)
    add_data_dir(p, "folder holding conll2003/{train,dev}.txt and reuters21578/")
    p.add_argument(
        "--train-sentences", type=int, default=None, help="first K train sentences (default: all 14,041)"
    )
    p.add_argument(
        "--dev-sentences",
        type=int,
        default=None,
        help="first K dev sentences (default: all 3,250; smoke tests)",
    )
    p.add_argument("--epochs", type=float, default=1.0, help="fine-tuning epochs (default 1)")
    add_seeds(p)
    p.add_argument(
        "--rows", default="hf,rawtune,tapt,dapt", help="any of hf,rawtune,tapt,dapt (default: all)"
    )
    p.add_argument("--tapt-steps", type=int, default=200, help="TAPT MLM steps (batch 32 x 128)")
    p.add_argument("--tapt-lr", type=float, default=1e-4)
    p.add_argument("--dapt-steps", type=int, default=1000, help="DAPT MLM steps on Reuters (batch 32 x 128)")
    p.add_argument("--dapt-lr", type=float, default=1e-4)
    p.add_argument(
        "--dapt-docs", type=int, default=None, help="use the first N Reuters documents (default all)"
    )
    p.add_argument(
        "--share-pretrain",
        action="store_true",
        help="pretrain once (first seed) and fine-tune every seed from it (default: pretrain per seed)",
    )
    add_threads(p)
    add_versus_flags(p, 7200, 'extra flags for rawtune finetune, e.g. "--data.stride 0"')
    p.add_argument("--pretrain-args", default="", help="extra flags for rawtune pretrain (TAPT and DAPT)")
    add_outputs(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = parse(p, argv, {"hf": worker_hf, "eval": worker_eval})
    rows = parse_list(args.rows, ROWS, "--rows", p)
    dapt = ("reuters21578",) if "dapt" in rows else ()
    require(p, args.data_dir, ("conll2003/train.txt", "conll2003/dev.txt", *dapt))
    command, info = begin(__file__, argv, args.threads)
    stages = ("finetune", "pretrain") if {"tapt", "dapt"} & set(rows) else ("finetune",)
    summaries, skipped, data = [], {}, {"files": {}, "info": {}}
    with workdir("rawtune-ner-bench-", args.keep_tmp) as tmp:
        data = prepare_data(args, tmp, rows)
        b = Bench(args, data["files"], tmp, __file__)
        summaries, skipped = versus(b, rows, ROWS, stages, run_one, summarize)
    table = render_table(summaries, info, data, args, command) if data["info"] else "(no data)"
    return finish(args, command, info, data["info"], summaries, skipped, table, token_reports(summaries))


if __name__ == "__main__":
    sys.exit(main())
