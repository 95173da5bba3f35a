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
start of step warmup+1 to the end of the last step (HF: on_step_begin/on_step_end callback; rawtune: the wall-clock
`time` of the train records of OUTDIR/metrics.jsonl, falling back to rawtune's own tokens_per_s). Every block is packed, so
tokens = batch * 128 per step. Model load and tokenization are excluded.

Every run is a separate subprocess, run one after another, so memory and thread pools don't interfere; with
--repeat the configurations take turns (interleaved), so a drift of the machine's load does not land on one.

Usage:
    python benchmarks/pretrain_vs_hf.py                       # HF fp32+bf16 and rawtune fp32+bf16, 60 steps
    python benchmarks/pretrain_vs_hf.py --only hf --steps 20
    python benchmarks/pretrain_vs_hf.py --rawtune-args "--objective.sparse_head false" --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

from corpora import read_conll, write_raw_text
from harness import (
    add_data_dir,
    add_outputs,
    add_threads,
    begin,
    fmt,
    interleave,
    json_args,
    log,
    machine_line,
    markdown_table,
    new_parser,
    parse,
    print_skipped,
    ratio,
    run_logged,
    run_schedule,
    spawn_worker,
    tail,
    workdir,
    write_payload,
)
from recipe import minilm, rawtune_command, rawtune_preflight

SEQ_LEN = 128
BATCH_SIZE = 32
MLM_PROBABILITY = 0.15


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


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


def step_timer(warmup: int):
    """A Trainer callback timing steps warmup+1 ... N (from the begin of step `warmup`) and keeping the losses."""
    from transformers import TrainerCallback

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

    return StepTimer()


def worker_hf(spec: dict) -> dict:
    import torch
    from transformers import (
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    warmup, steps = int(spec["warmup_steps"]), int(spec["steps"])
    set_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    train_ds = tokenize_and_group(spec["train_file"], tokenizer, spec["cache_dir"])
    model = AutoModelForMaskedLM.from_pretrained(spec["model"], dtype=torch.float32)
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=MLM_PROBABILITY)

    timer = step_timer(warmup)
    args = TrainingArguments(
        output_dir=spec["output_dir"],
        per_device_train_batch_size=BATCH_SIZE,
        max_steps=steps,
        learning_rate=spec["lr"],
        warmup_steps=0,
        weight_decay=0.01,
        optim=spec.get("optim", "adamw_torch"),
        bf16=spec["precision"] == "bf16",
        use_cpu=spec.get("use_cpu", True),
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


# --------------------------------------------------------------------------------------------------------------
# Parent: orchestration
# --------------------------------------------------------------------------------------------------------------


def steady_from_jsonl(path: Path, warmup: int) -> float | None:
    """Tokens/s from step `warmup` to the last logged step, by the wall clock of metrics.jsonl's train records
    (`time`; `elapsed_s`, the steps' own time, for runs that predate it): the peer's step timer is wall clock too."""
    if not path.exists():
        return None
    recs = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec and ("time" in rec or "elapsed_s" in rec):
            recs.append(rec)
    recs.sort(key=lambda r: r["step"])
    start = next((r for r in recs if r["step"] >= warmup), None)
    if start is None or recs[-1]["step"] <= start["step"]:
        return None
    end = recs[-1]
    clock = "time" if "time" in start and "time" in end else "elapsed_s"  # wall clock where logged
    dt = float(end[clock]) - float(start[clock])
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
        "--head_warmup.enabled", "false",  # HF's recipe trains the fresh head with the encoder from step 1
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
    rc, wall = run_logged(full, log_path, args.threads, args.timeout)
    if rc is None:
        log(f"  rawtune {precision}: timed out after {args.timeout:.0f}s; log tail:\n{tail(log_path)}")
        return None
    if rc != 0:
        log(f"  rawtune {precision}: FAILED (exit {rc}); log tail:\n{tail(log_path)}")
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


def bf16_info() -> dict:
    """What torch makes of this CPU's bf16: oneDNN's support and the kernels' capability level."""
    import torch

    return {
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def render_table(rows: list[dict], info: dict, args) -> str:
    hf_best = max(
        (r["tokens_per_s"] for r in rows if r["recipe"] == "hf" and r["tokens_per_s"]), default=None
    )
    hf_by_prec = {r["precision"]: r["tokens_per_s"] for r in rows if r["recipe"] == "hf"}
    out = [
        f"MLM pretraining, all-MiniLM-L6-v2, CoNLL-2003 train text, {args.steps} steps x {BATCH_SIZE} x {SEQ_LEN} "
        f"tokens, lr {args.lr}, seed {args.seed}; tokens/s = steady state after {args.warmup_steps} warm-up steps"
        + (f", median of {args.repeat}" if args.repeat > 1 else ""),
        f"{machine_line(info)}; torch CPU capability {info['cpu_capability']}, oneDNN bf16={info['mkldnn_bf16']}",
        "",
    ]
    rows_md = []
    for r in rows:
        tps = r["tokens_per_s"]
        name = "HF Trainer" if r["recipe"] == "hf" else "rawtune pretrain"
        rows_md.append([name, r["precision"], fmt(tps, ",.0f"), ratio(tps, hf_best), ratio(tps, hf_by_prec.get(r["precision"])),
                        fmt(r.get("val_loss"), ".4f"), fmt(r.get("tokens_seen"), ",")])  # fmt: skip
    if "before_val_loss" in info:
        rows_md.append(["untrained (before)", "fp32", "—", "—", "—", f"{info['before_val_loss']:.4f}", 0])
    header = [
        "recipe",
        "precision",
        "tokens/s",
        "vs HF best",
        "vs HF same precision",
        "val loss after",
        "train tokens",
    ]
    out.append(markdown_table(header, rows_md, "llrrrrr"))
    if "eval_blocks" in info:
        out.append(
            f"\nval loss: mean CE over {info['eval_masked_tokens']:,} masked tokens in {info['eval_blocks']} dev blocks "
            f"of {SEQ_LEN} (masked once, seed {args.eval_seed}), fp32, same code for every model."
        )
    return "\n".join(out)


def parser() -> argparse.ArgumentParser:
    p = new_parser(__doc__.split("\n\n")[0], worker=True)
    add_data_dir(p, "folder holding conll2003/{train,dev}.txt")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per run (default 60)")
    p.add_argument("--warmup-steps", type=int, default=3, help="steps excluded from the tokens/s timing")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--eval-seed", type=int, default=1234, help="seed of the one-off dev masking")
    p.add_argument("--eval-blocks", type=int, default=256, help="max 128-token dev blocks to evaluate")
    add_threads(p)
    p.add_argument("--only", choices=["hf", "rawtune"], default=None)
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per configuration, interleaved; tokens/s is the median"
    )
    p.add_argument("--hf-precisions", default="fp32,bf16")
    p.add_argument(
        "--hf-optim",
        default="adamw_torch_fused",
        help="the peer's `optim` (default: its fused AdamW, as rawtune's)",
    )
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
    add_outputs(p)
    return p


def run_hf(args, prec: str, rep: int, common: dict, files: dict, tmp: Path) -> dict | None:
    name = f"hf-{prec}-{rep}"
    log(f"[{name}] HF Trainer, {prec}, {args.steps} steps ...")
    spec = {
        **common, "kind": "hf", "precision": prec, "steps": args.steps, "lr": args.lr, "optim": args.hf_optim,
        "warmup_steps": args.warmup_steps, "train_file": files["train"],
        "output_dir": str(tmp / name / "trainer"), "model_out": str(tmp / name / "model"),
    }  # fmt: skip
    res, _ = spawn_worker(str(Path(__file__).resolve()), spec, tmp, name, args.threads, args.timeout)
    if res:
        log(f"  {fmt(res['tokens_per_s'], ',.0f')} tokens/s steady, {res['train_seconds']:.1f}s train")
    return res


def run_rawtune_rep(args, cmd: list[str], prec: str, rep: int, files: dict, tmp: Path) -> dict | None:
    name = f"rawtune-{prec}-{rep}"
    log(f"[{name}] rawtune pretrain, {prec}, {args.steps} steps ...")
    res = run_rawtune(args, cmd, prec, files, tmp / name, tmp / f"{name}.log")
    if res:
        log(f"  {fmt(res['tokens_per_s'], ',.0f')} tokens/s ({res['tokens_per_s_source']})")
        expected = args.steps * BATCH_SIZE * SEQ_LEN
        seen = res["tokens_seen"]
        if seen is not None and abs(seen - expected) > 0.01 * expected:
            log(f"  WARNING: rawtune tokens_seen={seen} != {expected} (HF side)")
        elif seen not in (None, expected):
            log(f"  note: rawtune tokens_seen={seen} vs {expected} (padding not counted)")
    return res


def run_all(args, common: dict, files: dict, tmp: Path, skipped: dict) -> list[dict]:
    """Every (recipe, precision) --repeat times, interleaved: the summary rows, HF first."""
    precisions = {"hf": args.hf_precisions, "rawtune": args.rawtune_precisions}
    arms = [
        (recipe, prec.strip())
        for recipe in ("hf", "rawtune")
        if args.only in (None, recipe)
        for prec in precisions[recipe].split(",")
        if prec.strip()
    ]
    cmd = None
    if any(recipe == "rawtune" for recipe, _ in arms):
        cmd = rawtune_command(args.rawtune_cmd)
        reason = rawtune_preflight(cmd, args.threads, ("pretrain",))
        if reason:
            log(f"rawtune side SKIPPED: {reason}")
            skipped["rawtune"] = reason
            arms = [a for a in arms if a[0] == "hf"]

    def run(rep: int, arm: tuple[str, str]) -> dict | None:
        recipe, prec = arm
        if recipe == "hf":
            return run_hf(args, prec, rep, common, files, tmp)
        return run_rawtune_rep(args, cmd, prec, rep, files, tmp)

    runs, _ = run_schedule(interleave(arms, args.repeat), run)
    return [
        summarize(recipe, prec, runs[(recipe, prec)]) for recipe, prec in arms if runs.get((recipe, prec))
    ]


def evaluate(args, rows: list[dict], common: dict, files: dict, tmp: Path, info: dict) -> None:
    """The shared validation loss of every final model and of the untrained one."""
    models = {"before": common["model"]}
    models.update({f"{r['recipe']}-{r['precision']}": r["model_dir"] for r in rows})
    models = {k: v for k, v in models.items() if Path(v).exists()}
    log(f"[eval] {len(models)} models on <= {args.eval_blocks} dev blocks ...")
    spec = {**common, "kind": "eval", "dev_file": files["dev"], "eval_blocks": args.eval_blocks,
            "eval_seed": args.eval_seed, "models": models}  # fmt: skip
    ev, _ = spawn_worker(str(Path(__file__).resolve()), spec, tmp, "eval", args.threads, args.timeout)
    if ev:
        for r in rows:
            r["val_loss"] = ev.get(f"{r['recipe']}-{r['precision']}", {}).get("val_loss")
        info["before_val_loss"] = ev["before"]["val_loss"]
        info["eval_blocks"] = ev["before"]["blocks"]
        info["eval_masked_tokens"] = ev["before"]["masked_tokens"]


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = parse(p, argv, {"hf": worker_hf, "eval": worker_eval})
    if args.steps <= args.warmup_steps:
        p.error("--steps must be larger than --warmup-steps")
    model_path = minilm()
    conll = args.data_dir / "conll2003"
    for split in ("train", "dev"):
        if not (conll / f"{split}.txt").exists():
            p.error(f"missing {conll / f'{split}.txt'} (pass --data-dir)")
    command, info = begin(__file__, argv, args.threads)
    info.update(bf16_info())
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    with workdir("rawtune-bench-", args.keep_tmp) as tmp:
        files = {"model": model_path, "train": str(tmp / "train.txt"), "dev": str(tmp / "dev.txt")}
        n_train = write_raw_text(read_conll(conll / "train.txt"), Path(files["train"]))
        n_dev = write_raw_text(read_conll(conll / "dev.txt"), Path(files["dev"]))
        log(f"raw text: {n_train} train sentences, {n_dev} dev sentences")
        common = {
            "model": model_path,
            "seed": args.seed,
            "threads": args.threads,
            "cache_dir": str(tmp / "hf_cache"),
        }
        rows = run_all(args, common, files, tmp, skipped)
        if rows and not args.no_eval:
            evaluate(args, rows, common, files, tmp, info)
    table = render_table(rows, info, args)
    print(table)
    print_skipped(skipped)
    write_payload(args.json, command, info, args=json_args(args), results=rows, skipped=skipped, table=table)
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
