#!/usr/bin/env python
"""Benchmark: seq2seq from scratch on SciTLDR-A, `rawtune finetune --task seq2seq --init scratch` vs the Hugging
Face Seq2SeqTrainer recipe on the same model and data.

Data: /work/shared/data/scitldr/SciTLDR-A (see its SOURCE.md; Apache-2.0): each abstract's sentences joined by
spaces is the source, the first TLDR the target (train has one; dev has several, only the first is scored here:
single-reference ROUGE, lower than the paper's multi-reference numbers). Converted into a temp dir, never committed.

rawtune: a 2-layer T5 (d_model 128, 4 heads, d_ff 512) built from config with a byte-level BPE tokenizer (vocab
8000) that rawtune trains on the training sources and targets; teacher forcing through the one fit loop; dev ROUGE
from greedy `generate` (max 48 new tokens) on the first --dev-examples dev papers.

HF side (as in transformers' examples/pytorch/summarization/run_summarization.py, not line by line): the same
tokenizer (read from the rawtune run) and the same T5 config, initialised with the same seed; sources and targets
tokenised with truncation to the same lengths, DataCollatorForSeq2Seq(label_pad_token_id=-100,
pad_to_multiple_of=8), Seq2SeqTrainer with the same batch size, steps, learning rate, warm-up ratio, weight decay
and linear schedule, no saving; then greedy `generate` on the same dev papers, scored by the same ROUGE code.

Throughput: training examples per second of training steps (rawtune: its `train.examples_per_s`, the sum of step
times; HF: a callback timing from the first step's begin to the last step's end). Model building, tokenisation and
evaluation are excluded on both sides. Both run in this process's CPU threads (--threads), one after the other.

Usage:
    python benchmarks/generation.py --steps 300 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scitldr" / "SciTLDR-A"
MODEL = {"model.layers": 2, "model.hidden": 128, "model.heads": 4, "model.intermediate": 512}
LENGTHS = {"data.max_length": 256, "data.max_target_length": 64}
BATCH, LR, WARMUP, MAX_NEW = 16, 1e-3, 0.1, 48


def convert(src: Path, dst: Path, limit: int | None = None) -> Path:
    rows = []
    for line in src.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        rows.append({"source": " ".join(obj["source"]), "target": obj["target"][0]})
    rows = rows[:limit] if limit else rows
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return dst


def run_rawtune(train: Path, dev: Path, out: Path, steps: int, threads: int, seed: int) -> dict:
    flags = {
        "task": "seq2seq",
        "init": "scratch",
        "arch": "t5",
        "train": train,
        "dev": dev,
        "output": out,
        "seed": seed,
        **MODEL,
        **LENGTHS,
        "tokenizer.vocab_size": 8000,
        "train.max_steps": steps,
        "train.eval_steps": steps,
        "train.save_steps": steps,
        "train.batch_size": BATCH,
        "train.lr": LR,
        "train.warmup_ratio": WARMUP,
        "train.threads": threads,
        "train.eval_before": "false",
        "train.progress": "false",
        "generation.max_new_tokens": MAX_NEW,
    }
    argv = [sys.executable, "-m", "rawtune", "finetune", *[f"--{k}={v}" for k, v in flags.items()]]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = json.loads((out / "metrics.json").read_text())
    return {
        "examples_per_s": m["train"]["examples_per_s"],
        **{k: m["dev"][k] for k in ("rouge1", "rouge2", "rougeL")},
    }


def run_hf(run_model: Path, train: Path, dev: Path, steps: int, threads: int, seed: int) -> dict:
    import torch
    from transformers import (
        AutoConfig,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        T5ForConditionalGeneration,
        TrainerCallback,
    )

    from rawtune.evaluation.generation_metrics import generation_metrics

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(run_model)
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(AutoConfig.from_pretrained(run_model))

    def encode(path: Path) -> list[dict]:
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        src = tok([r["source"] for r in rows], truncation=True, max_length=LENGTHS["data.max_length"])
        tgt = tok(
            text_target=[r["target"] for r in rows],
            truncation=True,
            max_length=LENGTHS["data.max_target_length"],
        )
        return [{"input_ids": s, "labels": t} for s, t in zip(src["input_ids"], tgt["input_ids"])]

    class Timer(TrainerCallback):
        start = end = 0.0

        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == 0:
                self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.end = time.perf_counter()

    timer = Timer()
    with tempfile.TemporaryDirectory() as tmp:
        args = Seq2SeqTrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=BATCH,
            max_steps=steps,
            learning_rate=LR,
            warmup_steps=math.ceil(WARMUP * steps),  # as rawtune rounds train.warmup_ratio
            weight_decay=0.01,
            lr_scheduler_type="linear",
            save_strategy="no",
            report_to=[],
            logging_steps=50,
            seed=seed,
            use_cpu=True,
            disable_tqdm=True,
        )
        collator = DataCollatorForSeq2Seq(tok, model=model, label_pad_token_id=-100, pad_to_multiple_of=8)
        trainer = Seq2SeqTrainer(
            model=model, args=args, train_dataset=encode(train), data_collator=collator, callbacks=[timer]
        )
        trainer.train()
    model.eval()
    rows = [json.loads(x) for x in dev.read_text().splitlines()]
    preds = []
    with torch.no_grad():
        for i in range(0, len(rows), 32):
            enc = tok(
                [r["source"] for r in rows[i : i + 32]],
                truncation=True,
                max_length=LENGTHS["data.max_length"],
                padding=True,
                return_tensors="pt",
            )
            out = model.generate(**enc, max_new_tokens=MAX_NEW, num_beams=1, do_sample=False)
            preds += [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]
    return {
        "examples_per_s": steps * BATCH / (timer.end - timer.start),
        **generation_metrics(preds, [r["target"] for r in rows], ["rouge"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dev-examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", type=Path, default=DATA)
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train = convert(a.data / "train.jsonl", root / "train.jsonl")
        dev = convert(a.data / "dev.jsonl", root / "dev.jsonl", a.dev_examples)
        rt = run_rawtune(train, dev, root / "run", a.steps, a.threads, a.seed)
        hf = run_hf(root / "run" / "model", train, dev, a.steps, a.threads, a.seed)
    print(
        f"SciTLDR-A, T5 2x128 from scratch, {a.steps} steps x {BATCH}, {a.threads} threads, dev {a.dev_examples}"
    )
    print("| | examples/s | ROUGE-1 | ROUGE-2 | ROUGE-L |\n|---|---|---|---|---|")
    for name, r in (("rawtune", rt), ("HF Seq2SeqTrainer", hf)):
        print(
            f"| {name} | {r['examples_per_s']:.1f} | {r['rouge1']:.2f} | {r['rouge2']:.2f} | {r['rougeL']:.2f} |"
        )
    print(f"throughput ratio rawtune/HF: {rt['examples_per_s'] / hf['examples_per_s']:.2f}x")


if __name__ == "__main__":
    main()
