#!/usr/bin/env python
"""Benchmark: seq2seq from scratch, `rawtune finetune --task seq2seq --init scratch` vs the Hugging Face
Seq2SeqTrainer recipe on the same model and data: summarization (SciTLDR-A or DialogSum, ROUGE) or translation
(WMT16 newstest2016 en->fi, BLEU and chrF).

Data (`--set`, from /work/shared/data, converted into a temp dir, never committed; see each SOURCE.md):
- scitldr (Apache-2.0): each abstract's sentences joined by spaces is the source, the first TLDR the target
  (train has one; dev has several, only the first is scored here: single-reference ROUGE, lower than the
  paper's multi-reference numbers).
- dialogsum (CC BY-NC-SA 4.0): the dialogue is the source, the summary the target; train and dev files as given.
- wmt16 (CC-BY-4.0): the 3,000 parallel lines of newstest2016-enfi; English is the source, Finnish the target;
  the first --train-examples lines train, the last --dev-examples are scored (the test set is the only
  en-fi text here, so this is a small-data translation run, not a WMT result).

rawtune: a 2-layer T5 (d_model 128, 4 heads, d_ff 512) built from config with a byte-level BPE tokenizer (vocab
8000) that rawtune trains on the training sources and targets; teacher forcing through the one fit loop; dev
metrics from greedy `generate` (max 48 new tokens) on the first --dev-examples dev examples.

HF side (as in transformers' examples/pytorch/summarization/run_summarization.py, not line by line): the same
tokenizer (read from the rawtune run) and the same T5 config, initialised with the same seed; sources and targets
tokenised with truncation to the same lengths, DataCollatorForSeq2Seq(label_pad_token_id=-100,
pad_to_multiple_of=8), Seq2SeqTrainer with the same batch size, steps, learning rate, warm-up ratio, weight decay
and linear schedule, no saving; then greedy `generate` on the same dev examples, scored by the same code.

Baselines (printed under the table, no training): `lead`, the source's first 30 words (for translation: the
source copied), and `constant`, the most common 6-word opening of the training targets, for every example. A
model from scratch that only beats the constant row has learned the set's stock phrasing, not the task.

Throughput: training examples per second of training steps (rawtune: its `train.examples_per_s`, the sum of step
times; HF: a callback timing from the first step's begin to the last step's end). Model building, tokenisation and
evaluation are excluded on both sides. Both run in this process's CPU threads (--threads), one after the other.

Usage:
    python benchmarks/generation.py --steps 300 --threads 2
    python benchmarks/generation.py --set wmt16 --steps 1000 --rows rawtune
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from harness import DATA_DIR, add_threads, begin, markdown_table, new_parser, run_checked

SHARED = DATA_DIR
METRICS = {"scitldr": ["rouge"], "dialogsum": ["rouge"], "wmt16": ["bleu", "chrf"]}
SCORES = {"rouge": ("rouge1", "rouge2", "rougeL"), "bleu": ("bleu",), "chrf": ("chrf",)}
MODEL = {"model.layers": 2, "model.hidden": 128, "model.heads": 4, "model.intermediate": 512}
LENGTHS = {"data.max_length": 256, "data.max_target_length": 64}
BATCH, LR, WARMUP, MAX_NEW = 16, 1e-3, 0.1, 48
LEAD, CONSTANT_WORDS = 30, 6  # the baselines' lengths (words)


def _write(rows: list[dict], dst: Path) -> Path:
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return dst


def convert(name: str, data: Path, root: Path, train_n: int | None, dev_n: int) -> tuple[Path, Path]:
    """The set as rawtune's {"source", "target"} JSONL: (train file, dev file)."""
    if name == "scitldr":

        def read(path: Path) -> list[dict]:
            objs = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
            return [{"source": " ".join(o["source"]), "target": o["target"][0]} for o in objs]

        train, dev = read(data / "SciTLDR-A" / "train.jsonl"), read(data / "SciTLDR-A" / "dev.jsonl")
    elif name == "dialogsum":
        # the files hold Python dict literals (single quotes), not JSON
        def read(path: Path) -> list[dict]:
            objs = [ast.literal_eval(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
            return [{"source": o["dialogue"], "target": o["summary"]} for o in objs]

        train, dev = read(data / "dialogsum.train.jsonl"), read(data / "dialogsum.dev.jsonl")
    else:
        en = (data / "txt" / "newstest2016-enfi.en").read_text(encoding="utf-8").splitlines()
        fi = (data / "txt" / "newstest2016-enfi.fi").read_text(encoding="utf-8").splitlines()
        pairs = [{"source": a, "target": b} for a, b in zip(en, fi, strict=True)]
        train, dev = pairs[: len(pairs) - dev_n], pairs[len(pairs) - dev_n :]
    return _write(train[:train_n] if train_n else train, root / "train.jsonl"), _write(
        dev[:dev_n], root / "dev.jsonl"
    )


def baselines(train: Path, dev: Path, n: int, metrics: list[str]) -> dict[str, dict]:
    """Scores a model must beat to have learned more than the set's surface: `lead` (the source's first
    LEAD words) and `constant` (the most common opening of the training targets, the same for every
    example: what a model that writes one generic text would score)."""
    from collections import Counter

    from rawtune.evaluation.generation_metrics import generation_metrics

    rows = [json.loads(x) for x in dev.read_text(encoding="utf-8").splitlines()][:n]
    refs = [r["target"] for r in rows]
    openings = Counter(
        " ".join(json.loads(x)["target"].split()[:CONSTANT_WORDS])
        for x in train.read_text(encoding="utf-8").splitlines()
    )
    constant = openings.most_common(1)[0][0]
    return {
        f"baseline: the source's first {LEAD} words": generation_metrics(
            [" ".join(r["source"].split()[:LEAD]) for r in rows], refs, metrics
        ),
        f"baseline: constant {constant!r}": generation_metrics([constant] * len(refs), refs, metrics),
    }


def run_rawtune(
    train: Path, dev: Path, out: Path, steps: int, threads: int, seed: int, metrics: list[str]
) -> dict:
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
        "generation.metrics": "[" + ", ".join(metrics) + "]",
    }
    argv = [sys.executable, "-m", "rawtune", "finetune", *[f"--{k}={v}" for k, v in flags.items()]]
    run_checked(argv, out.parent / f"{out.name}.log")
    m = json.loads((out / "metrics.json").read_text())
    return {
        "examples_per_s": m["train"]["examples_per_s"],
        **{k: m["dev"][k] for name in metrics for k in SCORES[name]},
    }


def run_hf(
    run_model: Path, train: Path, dev: Path, steps: int, threads: int, seed: int, metrics: list[str]
) -> dict:
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
        **generation_metrics(preds, [r["target"] for r in rows], metrics),
    }


def main() -> None:
    p = new_parser(__doc__.splitlines()[1], argparse.HelpFormatter)
    p.add_argument("--set", choices=sorted(METRICS), default="scitldr")
    p.add_argument("--steps", type=int, default=300)
    add_threads(p, default=2)
    p.add_argument(
        "--train-examples", type=int, default=None, help="first N training examples (default: all)"
    )
    p.add_argument("--dev-examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--rows", default="rawtune,hf", help="rawtune,hf or one of them (hf needs the rawtune run)"
    )
    p.add_argument("--data", type=Path, default=None, help="the set's folder (default: ../shared/data/<set>)")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    begin(__file__, None, a.threads, show_machine=True)
    data = a.data or SHARED / {"wmt16": "wmt16_en_fi"}.get(a.set, a.set)
    metrics, rows = METRICS[a.set], a.rows.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, dev = convert(a.set, data, root, a.train_examples, a.dev_examples)
        n_train = len(train.read_text(encoding="utf-8").splitlines())
        t0 = time.perf_counter()
        results["rawtune"] = run_rawtune(train, dev, root / "run", a.steps, a.threads, a.seed, metrics)
        results["rawtune"]["wall_s"] = time.perf_counter() - t0
        if "hf" in rows:
            t0 = time.perf_counter()
            results["HF Seq2SeqTrainer"] = run_hf(
                root / "run" / "model", train, dev, a.steps, a.threads, a.seed, metrics
            )
            results["HF Seq2SeqTrainer"]["wall_s"] = time.perf_counter() - t0
        floor = baselines(train, dev, a.dev_examples, metrics)
    scores = [k for name in metrics for k in SCORES[name]]
    print(
        f"{a.set}, T5 2x128 from scratch, {n_train} training examples, {a.steps} steps x {BATCH}, "
        f"{a.threads} threads, dev {a.dev_examples}, greedy"
    )
    lines = [[name, f"{r['examples_per_s']:.1f}", *(f"{r[k]:.2f}" for k in scores), f"{r['wall_s']:.0f}"]
             for name, r in results.items()]  # fmt: skip
    lines += [[name, "—", *(f"{r[k]:.2f}" for k in scores), "—"] for name, r in floor.items()]
    print(markdown_table(["", "examples/s", *scores, "wall s"], lines))
    if "hf" in rows:
        ratio = results["rawtune"]["examples_per_s"] / results["HF Seq2SeqTrainer"]["examples_per_s"]
        print(f"throughput ratio rawtune/HF: {ratio:.2f}x")


if __name__ == "__main__":
    main()
