#!/usr/bin/env python
"""Benchmark: text classification fine-tuning, `rawtune finetune --task classification` vs the Hugging Face
Trainer recipe, on SST-2 or TREC.

Same machine, same run, same backbone (packaged all-MiniLM-L6-v2), same files (written once to a temp dir and read
by both sides), same budget: --epochs epochs, batch 16, lr 5e-5, linear schedule with 10 % warm-up, weight decay
0.01, max 128 tokens; both sides report the final model. Prints a Markdown table of dev accuracy and macro F1
(mean ± std over --seeds), training speed in train examples per second, its ratio to the HF row, and wall times.

Data (--dataset):
  sst2  GLUE SST-2: a seeded random --train-examples subset of train (default 2,000), the full dev set (872).
  trec  TREC question classification, 6 coarse labels: train_5500 only, so a seeded 20 % is held out as dev
        (--data-seed); --train-examples (default: all of the other 80 %) samples the rest.

Rows (--rows):
  hf       transformers' examples/pytorch/text-classification/run_glue.py recipe, in a subprocess: tokenizer with
           truncation to 128, AutoModelForSequenceClassification, DataCollatorWithPadding (dynamic padding), Trainer.
  rawtune  `rawtune finetune --task classification --text-column sentence --label-column label ...`.

Metrics: accuracy and macro F1 (sklearn). own = what each side reports (HF: argmax on dev; rawtune: metrics.json
dev.accuracy / dev.macro_f1); shared = every final model scored by this script's code. examples/s = train examples
x epochs / training seconds (HF: Trainer train_runtime; rawtune: metrics.json train.train_seconds).

Usage:
    python benchmarks/cls_bench.py                                 # SST-2, 2,000 train examples, 1 epoch, seed 1
    python benchmarks/cls_bench.py --dataset trec --epochs 3 --seeds 1,2,3 --json trec.json
    python benchmarks/cls_bench.py --train-examples 64 --seeds 1   # smoke test
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from corpora import LABEL, TEXT, read_csv, read_sst2, read_trec, sample_keeping_labels, write_csv
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
from recipe import (
    BATCH_SIZE,
    EVAL_BATCH,
    LR,
    MAX_LENGTH,
    WARMUP_RATIO,
    WEIGHT_DECAY,
    Bench,
    add_versus_flags,
    finetune,
    finetune_flags,
    finish,
    label_maps,
    report_text,
    trainer_args,
    versus,
    versus_run,
)

ROWS = {"hf": "hf", "rawtune": "rawtune"}


# --- data ------------------------------------------------------------------------------------------------------
def prepare_data(args, tmp: Path) -> dict:
    rng = random.Random(args.data_seed)
    if args.dataset == "sst2":
        train = read_sst2(args.data_dir / "sst2" / "train.tsv")
        dev = read_sst2(args.data_dir / "sst2" / "dev.tsv")
        k = 2000 if args.train_examples is None else args.train_examples
        source = f"SST-2 train ({len(train):,}) seeded sample, dev ({len(dev):,}) in full"
    else:
        rows = read_trec(args.data_dir / "trec" / "train_5500.label")
        order = list(range(len(rows)))
        rng.shuffle(order)
        n_dev = round(0.2 * len(rows))
        dev = [rows[i] for i in sorted(order[:n_dev])]
        train = [rows[i] for i in sorted(order[n_dev:])]
        k = args.train_examples
        source = f"TREC train_5500 ({len(rows):,}), seeded 80/20 split (data seed {args.data_seed})"
    if k is not None and k < len(train):
        train = sample_keeping_labels(train, k, rng)
    files = {"train": str(tmp / "train.csv"), "dev": str(tmp / "dev.csv")}
    write_csv(train, Path(files["train"]))
    write_csv(dev, Path(files["dev"]))
    missing = sorted({lab for _, lab in dev} - {lab for _, lab in train})
    if missing:
        log(f"WARNING: dev labels absent from the train sample: {missing}")
    info = {
        "dataset": args.dataset,
        "source": source,
        "train_examples": len(train),
        "dev_examples": len(dev),
        "labels": sorted({lab for _, lab in train} | {lab for _, lab in dev}),
        "train_label_counts": dict(sorted(_counts(lab for _, lab in train).items())),
        "dev_label_counts": dict(sorted(_counts(lab for _, lab in dev).items())),
    }
    log(f"data: {source}: {len(train):,} train / {len(dev):,} dev examples, labels {info['labels']}")
    return {"files": files, "info": info}


def _counts(labels) -> dict[str, int]:
    out: dict[str, int] = {}
    for lab in labels:
        out[lab] = out.get(lab, 0) + 1
    return out


# --- shared evaluation and workers (`python cls_bench.py --_worker SPEC.json`) ------------------------------
def predict_labels(model, tokenizer, texts: list[str]) -> list[str]:
    import torch

    model.eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    preds: list[str] = [""] * len(texts)
    with torch.no_grad():
        for start in range(0, len(order), EVAL_BATCH):
            idx = order[start : start + EVAL_BATCH]
            enc = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            for i, p in zip(idx, model(**enc).logits.argmax(-1).tolist()):
                preds[i] = id2label[p]
    return preds


def score_cls(gold: list[str], pred: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    labels = sorted(set(gold) | set(pred))
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "per_class": classification_report(gold, pred, labels=labels, output_dict=True, zero_division=0),
    }


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
    train = read_csv(spec["train_file"])
    dev = read_csv(spec["dev_file"])
    label_list = sorted({lab for _, lab in train})  # run_glue.py: sorted labels of the train set
    label2id = {lab: i for i, lab in enumerate(label_list)}
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])

    def preprocess(examples):
        out = tokenizer(examples[TEXT], truncation=True, max_length=MAX_LENGTH)
        out["label"] = [label2id[lab] for lab in examples[LABEL]]
        return out

    raw = Dataset.from_dict({TEXT: [t for t, _ in train], LABEL: [lab for _, lab in train]})
    train_ds = raw.map(preprocess, batched=True, remove_columns=raw.column_names)
    model = AutoModelForSequenceClassification.from_pretrained(spec["model"], **label_maps(label_list))
    trainer = Trainer(
        model=model,
        args=trainer_args(spec),
        train_dataset=train_ds,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    train_result = trainer.train()
    train_runtime = float(train_result.metrics["train_runtime"])
    t_eval = time.perf_counter()
    pred = predict_labels(trainer.model, tokenizer, [t for t, _ in dev])
    return {
        **score_cls([lab for _, lab in dev], pred),
        "train_seconds": train_runtime,
        "examples_per_s": len(train) * spec["epochs"] / train_runtime,
        "examples": len(train),
        "steps": trainer.state.global_step,
        "final_train_loss": train_result.metrics.get("train_loss"),
        "eval_seconds": time.perf_counter() - t_eval,
        "worker_seconds": time.perf_counter() - t_start,
        "threads": torch.get_num_threads(),
    }


def worker_eval(spec: dict) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dev = read_csv(spec["dev_file"])
    results = {}
    for name, path in spec["models"].items():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForSequenceClassification.from_pretrained(path)
            results[name] = score_cls(
                [lab for _, lab in dev], predict_labels(model, tokenizer, [t for t, _ in dev])
            )
        except Exception as exc:  # one bad model dir must not lose the others' scores
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


# --- the parent ------------------------------------------------------------------------------------------------
def run_finetune(b: Bench, seed: int, out: Path) -> dict | None:
    args = b.args
    task = ["--task", "classification", "--text-column", TEXT, "--label-column", LABEL]
    flags = finetune_flags(task, b, b.model, seed, out)
    done = finetune(b, flags, out)
    if done is None:
        return None
    dev, train, wall = done
    secs, examples = train.get("train_seconds"), train.get("examples")
    return {
        "accuracy": dev.get("accuracy"),
        "macro_f1": dev.get("macro_f1"),
        "per_class": dev.get("per_class"),
        "dev_loss": dev.get("loss"),
        "train_seconds": secs,
        "examples_per_s": examples * args.epochs / secs if secs and examples else None,
        "examples_per_s_reported": train.get("examples_per_s"),
        "tokens_per_s_reported": train.get("tokens_per_s"),
        "examples": examples,
        "steps": train.get("steps"),
        "finetune_wall_s": wall,
        "metrics_json": str(out / "metrics.json"),
        "model_dir": str(out / "model"),
    }


def run_one(b: Bench, rep: int, seed: int, row: str) -> dict | str:
    """One run of a row for a seed: its result, or why the row is broken."""
    return versus_run(
        b, rep, seed, row, ROWS[row],
        lambda name, seed: run_finetune(b, seed, b.tmp / name),
        lambda r: f"accuracy {fmt(r.get('accuracy'), '.4f')}, macro F1 {fmt(r.get('macro_f1'), '.4f')}, "
        f"{fmt(r.get('examples_per_s'))} examples/s, {fmt(r.get('train_seconds'))}s training",
    )  # fmt: skip


def summarize(row: str, runs: list[dict], eval_results: dict) -> dict:
    for r in runs:
        if row == "hf":  # the HF row is scored by the shared code already
            r.update(shared_accuracy=r["accuracy"], shared_macro_f1=r["macro_f1"])
        shared = eval_results.get(r["name"]) or {}
        if shared and "error" not in shared:
            r["shared_accuracy"], r["shared_macro_f1"] = shared["accuracy"], shared["macro_f1"]
        elif "error" in shared:
            r["shared_error"] = shared["error"]
    return {
        "row": ROWS[row],
        "key": row,
        "seeds": sorted({r["seed"] for r in runs}),
        "accuracy": per_seed(runs, lambda r: r.get("accuracy")),
        "macro_f1": per_seed(runs, lambda r: r.get("macro_f1")),
        "shared_accuracy": per_seed(runs, lambda r: r.get("shared_accuracy")),
        "shared_macro_f1": per_seed(runs, lambda r: r.get("shared_macro_f1")),
        "examples_per_s": median([r.get("examples_per_s") for r in runs]),
        "train_seconds": median([r.get("train_seconds") for r in runs]),
        "finetune_wall_s": median([r.get("finetune_wall_s") for r in runs]),
        "runs": runs,
    }


def render_table(summaries: list[dict], info: dict, data: dict, args, command: str) -> str:
    hf = next((s for s in summaries if s["key"] == "hf"), None)
    hf_speed = hf["examples_per_s"] if hf else None
    d = data["info"]
    header = ["row", "seeds", "accuracy (own)", "macro F1 (own)", "accuracy (shared eval)", "macro F1 (shared eval)",
              "train ex/s", "vs hf", "train s", "wall s"]  # fmt: skip
    rows = [
        [s["row"], ",".join(map(str, s["seeds"])), mean_std(s["accuracy"]), mean_std(s["macro_f1"]),
         mean_std(s["shared_accuracy"]), mean_std(s["shared_macro_f1"]), fmt(s["examples_per_s"]),
         ratio(s["examples_per_s"], hf_speed), fmt(s["train_seconds"]), fmt(s["finetune_wall_s"], ".0f")]
        for s in summaries
    ]  # fmt: skip
    return "\n".join([
        f"command: {command}",
        f"classification fine-tuning, all-MiniLM-L6-v2, {d['source']}: {d['train_examples']:,} train -> "
        f"{d['dev_examples']:,} dev, {len(d['labels'])} labels, {args.epochs:g} epoch(s), batch {BATCH_SIZE}, "
        f"lr {LR}, warm-up {WARMUP_RATIO}, weight decay {WEIGHT_DECAY}, max {MAX_LENGTH} tokens, final model; "
        f"seeds {','.join(map(str, args.seeds))}"
        + (f", {args.repeat} repeats (speed: median)" if args.repeat > 1 else ""),
        machine_line(info),
        "",
        markdown_table(header, rows, "llrrrrrrrr"),
        "",
        "mean ± std over seeds. own = what each recipe reports (rawtune: metrics.json dev.accuracy / dev.macro_f1); "
        f"shared eval = the same code for every final model (truncation to {MAX_LENGTH} tokens, sklearn metrics).",
        "train ex/s = train examples x epochs / training seconds (HF: Trainer train_runtime; rawtune: metrics.json "
        "train.train_seconds); wall s = whole subprocess (load, tokenise, train, evaluate, save).",
    ])  # fmt: skip


def class_reports(summaries: list[dict]) -> str:
    out = []
    for s in summaries:
        run = next((r for r in s["runs"] if r.get("per_class")), None)
        if run:
            src = run.get("metrics_json", "shared eval")
            out += [f"\nper-class report, {s['row']} (seed {run['seed']}), {src}:", "```"]
            out += [report_text(run["per_class"]), "```"]
    return "\n".join(out)


# --- main ------------------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__.split("\n\n")[0], worker=True)
    add_data_dir(p, "folder holding sst2/ and trec/")
    p.add_argument("--dataset", choices=["sst2", "trec"], default="sst2")
    p.add_argument(
        "--train-examples",
        type=int,
        default=None,
        help="seeded random train subset, every label kept (default: sst2 2000, trec all of the 80 %% split)",
    )
    p.add_argument("--data-seed", type=int, default=0, help="seed of the train subset and the TREC dev split")
    p.add_argument("--epochs", type=float, default=1.0, help="fine-tuning epochs (default 1)")
    add_seeds(p)
    p.add_argument("--rows", default="hf,rawtune", help="any of hf,rawtune (default: both)")
    add_threads(p)
    add_versus_flags(p, 3600, "extra flags for rawtune finetune")
    add_outputs(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = parse(p, argv, {"hf": worker_hf, "eval": worker_eval})
    rows = parse_list(args.rows, ROWS, "--rows", p)
    sst2 = ["sst2/train.tsv", "sst2/dev.tsv"]
    require(p, args.data_dir, sst2 if args.dataset == "sst2" else ["trec/train_5500.label"])
    command, info = begin(__file__, argv, args.threads)
    summaries, skipped, data = [], {}, {"files": {}, "info": {}}
    with workdir("rawtune-cls-bench-", args.keep_tmp) as tmp:
        data = prepare_data(args, tmp)
        b = Bench(args, data["files"], tmp, __file__)
        summaries, skipped = versus(b, rows, ROWS, ("finetune",), run_one, summarize)
    table = render_table(summaries, info, data, args, command) if data["info"] else "(no data)"
    return finish(args, command, info, data["info"], summaries, skipped, table, class_reports(summaries))


if __name__ == "__main__":
    sys.exit(main())
