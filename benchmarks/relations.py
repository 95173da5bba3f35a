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

import json
import shlex
import sys
import time
from pathlib import Path

from harness import (
    add_outputs,
    add_threads,
    begin,
    fmt,
    log,
    machine_line,
    markdown_table,
    new_parser,
    parse,
    parse_list,
    ratio,
    run_logged,
    tail,
    workdir,
    write_payload,
)
from recipe import (
    BATCH_SIZE,
    WARMUP_RATIO,
    WEIGHT_DECAY,
    Bench,
    add_rawtune_flags,
    finetune,
    finetune_flags,
    hf_row,
    label_maps,
    rawtune_ready,
    trainer_args,
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
    model = AutoModelForSequenceClassification.from_pretrained(spec["model"], **label_maps(labels))
    model.resize_token_embeddings(len(tokenizer))
    trainer = Trainer(
        model=model, args=trainer_args(spec, spec["lr"]), train_dataset=ds, data_collator=DataCollatorWithPadding(tokenizer),
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


# --- parent ----------------------------------------------------------------------------------------------------
def run_rawtune(b: Bench, row: str) -> dict | None:
    args, out = b.args, b.tmp / row
    lora = row == "lora"
    extra = ["--tuning.method", "lora"] if lora else []
    task = ["--task", "relations"]
    flags = finetune_flags(
        task, b, b.model, args.seed, out, args.lora_lr if lora else args.lr, MAX_LENGTH, extra
    )
    done = finetune(b, flags, out)
    if done is None:
        return None
    dev, train, wall = done
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
    header = ["row", "micro F1", "macro F1", "train pairs/s", "vs hf", "train s", "wall s"]
    rows = [
        [row, fmt(r.get("micro_f1"), ".4f"), fmt(r.get("macro_f1"), ".4f"), fmt(r.get("pairs_per_s")),
         ratio(r.get("pairs_per_s"), hf_speed), fmt(r.get("train_seconds")),
         fmt(r.get("wall_s") or r.get("worker_seconds"), ".0f")]
        for row, r in results.items()
        if row != "pipeline"
    ]  # fmt: skip
    out = [
        f"command: {command}",
        f"relation extraction, all-MiniLM-L6-v2, bundled synthetic set (written by rawtune): {data['train_pairs']:,} "
        f"train pairs ({args.train_sentences} sentences) -> {data['eval_pairs']:,} held-out pairs "
        f"({args.eval_sentences} sentences, unseen names); {args.epochs:g} epoch(s), batch {BATCH_SIZE}, lr {args.lr} "
        f"(lora {args.lora_lr}), warm-up {WARMUP_RATIO}, weight decay {WEIGHT_DECAY}, final model, seed {args.seed}",
        machine_line(info),
        "",
        markdown_table(header, rows, "lrrrrrr"),
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


def run_rows(b: Bench, rows: list[str], paths: dict) -> dict[str, dict]:
    args, results = b.args, {}
    if "hf" in rows:
        log("[hf] Trainer recipe ...")
        spec = {"model": b.model, "seed": args.seed, "epochs": args.epochs, "lr": args.lr,
                "train_file": b.files["train"], "eval_file": b.files["dev"], "output_dir": str(b.tmp / "hf")}  # fmt: skip
        if (res := hf_row(b, spec)) is not None:
            results["hf"] = res
    if {"rawtune", "lora"} & set(rows) and rawtune_ready(b):
        for row in ("rawtune", "lora"):
            if row in rows:
                log(f"[{row}] rawtune finetune --task relations ...")
                if (res := run_rawtune(b, row)) is not None:
                    results[row] = res
    if args.pipeline and "rawtune" in results:
        log("[pipeline] NER run + rawtune predict --ner ...")
        if (res := run_pipeline(args, b.cmd, b.model, b.tmp, paths, b.tmp / "rawtune")) is not None:
            results["pipeline"] = res
    return results


def parser():
    p = new_parser(__doc__.split("\n\n")[0], worker=True)
    p.add_argument("--train-sentences", type=int, default=300)
    p.add_argument("--eval-sentences", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--lora-lr", type=float, default=1e-3)
    p.add_argument("--rows", default="hf,rawtune,lora")
    p.add_argument("--pipeline", action="store_true", help="also the raw-text pipeline with a NER run")
    p.add_argument("--ner-epochs", type=float, default=3.0)
    add_threads(p)
    add_rawtune_flags(p, 3600)
    add_outputs(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = parse(p, argv, {"hf": worker_hf})
    rows = parse_list(args.rows, ROWS, "--rows", p)
    command, info = begin(__file__, argv, args.threads)
    from rawtune.samples.synthetic_relations import write

    with workdir("rawtune-re-bench-", args.keep_tmp) as tmp:
        paths = write(tmp / "data", sizes={"train": args.train_sentences, "test": args.eval_sentences})
        files = {"train": str(paths["train"]), "dev": str(paths["test"])}
        data = {"train_pairs": len(read_rows(files["train"])), "eval_pairs": len(read_rows(files["dev"]))}
        log(f"data: {data}")
        results = run_rows(Bench(args, files, tmp, __file__), rows, paths)
    table = render(results, data, info, args, command)
    print(table)
    write_payload(args.json, command, info, results=results, table=table)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
