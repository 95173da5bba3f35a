#!/usr/bin/env python
"""Benchmark: does MLM data augmentation help NER on small labeled sets? CoNLL-2003 dev entity F1 when
fine-tuning on a small fraction of the train set, with and without `rawtune finetune --augment N`.

1. The masked LM: `rawtune pretrain` of the packaged all-MiniLM-L6-v2 (its MLM head starts fresh) on the
   CoNLL-2003 train sentences as raw text (one sentence per line), for --mlm-steps steps (--mlm RUN reuses one).
2. For every train fraction (--fractions) and seed (--seeds): `rawtune finetune --task ner` from that run
   (the same backbone for both rows, so the only difference is augmentation) on `data.train_fraction` of
   train (a seeded subset, different per seed), once plain and once with `--augment FACTOR` (the run's
   masked LM samples the replacements: the run has its trained head; `--entity-swap` adds swaps within type).
   Both rows train the same number of optimizer steps: max(--min-steps, --epochs x subset / batch), so the
   augmented row sees more distinct sentences, not more updates. No evaluation during training, final
   model, lr --lr, batch --batch-size.
3. Dev entity F1 (`metrics.json` dev.f1, seqeval strict IOB2) on the first --dev-sentences dev sentences
   (all 3,250 by default), mean ± std over the seeds.

Every run is a subprocess, one at a time; data, logs and runs go to a temp dir (--keep-tmp keeps it).

    python benchmarks/augment.py                                             # 1 %, 5 %, 20 %; seeds 0,1,2
    python benchmarks/augment.py --fractions 0.01,0.05 --dev-sentences 1000 --threads 2
    python benchmarks/augment.py --fractions 0.01 --seeds 0 --mlm-steps 5 --min-steps 5 --dev-sentences 100  # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

from corpora import read_conll, write_conll, write_raw_text
from harness import (
    DATA_DIR,
    add_data_dir,
    add_json,
    add_keep_tmp,
    add_seeds,
    add_threads,
    begin,
    json_args,
    log,
    markdown_table,
    mean_std,
    new_parser,
    run_checked,
    workdir,
    write_payload,
)
from recipe import minilm, quiet_flags


def parser() -> argparse.ArgumentParser:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    add_data_dir(ap, "folder with train.txt and dev.txt (CoNLL-2003)", DATA_DIR / "conll2003")
    ap.add_argument("--fractions", default="0.01,0.05,0.2", help="train fractions, comma-separated")
    add_seeds(ap, "0,1,2")
    ap.add_argument("--factor", type=int, default=3, help="augmented copies per training sentence")
    ap.add_argument("--word-fraction", type=float, default=0.15, help="fraction of non-entity words replaced")
    ap.add_argument("--entity-swap", action="store_true", help="also swap entity mentions within type")
    ap.add_argument(
        "--epochs", type=float, default=10.0, help="epochs over the plain subset (sets the steps)"
    )
    ap.add_argument("--min-steps", type=int, default=100, help="each run trains at least this many steps")
    ap.add_argument("--max-steps", type=int, default=None, help="and at most this many")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dev-sentences", type=int, default=None, help="first N dev sentences (default all)")
    ap.add_argument("--mlm", default=None, help="a finished rawtune pretrain run to use (skips step 1)")
    ap.add_argument("--mlm-steps", type=int, default=300)
    ap.add_argument("--mlm-lr", type=float, default=1e-4)
    ap.add_argument("--mlm-batch-size", type=int, default=32)
    ap.add_argument("--mlm-seq-len", type=int, default=128)
    add_threads(ap)
    add_json(ap)
    add_keep_tmp(ap)
    return ap


def pretrain_mlm(args, cmd: list[str], text_file: Path, tmp: Path) -> float:
    """Step 1: the masked LM both rows start from; its wall seconds."""
    return run_checked(
        [*cmd, "pretrain", "--model", minilm(), "--corpus", str(text_file), "--output", str(tmp / "mlm"),
         "--seed", "0", "--train.max_steps", str(args.mlm_steps), "--train.batch_size", str(args.mlm_batch_size),
         "--train.lr", str(args.mlm_lr), "--data.seq_len", str(args.mlm_seq_len),
         "--data.validation_split", "0.02", "--data.max_validation_blocks", "32",
         "--data.cache_dir", str(tmp / "cache"), *quiet_flags(args.threads, last_model=False)],
        tmp / "mlm.log", args.threads,
    )  # fmt: skip


def finetune(
    args, cmd: list[str], mlm: str, frac: float, steps: int, seed: int, factor: int, tmp: Path
) -> dict:
    """Step 2: one fine-tuning run, plain (factor 0) or augmented; its row."""
    name = f"f{frac:g}-s{seed}-a{factor}"
    out = tmp / name
    aug = []
    if factor:
        aug = ["--augment", str(factor), "--data.augment.fraction", str(args.word_fraction)]
        if args.entity_swap:
            aug += ["--data.augment.methods", "mlm,swap"]
    wall = run_checked(
        [*cmd, "finetune", "--task", "ner", "--model", mlm, "--train", str(tmp / "train.conll"),
         "--dev", str(tmp / "dev.conll"), "--output", str(out), "--seed", str(seed),
         "--data.train_fraction", str(frac), "--train.max_steps", str(steps),
         "--train.batch_size", str(args.batch_size), "--train.lr", str(args.lr),
         *quiet_flags(args.threads), *aug],
        tmp / f"{name}.log", args.threads,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "dev_f1": metrics["dev"]["f1"],
        "train_examples": manifest["data"]["train"]["examples"],
        "augmentation": manifest.get("augmentation"),
        "wall_s": round(wall, 1),
    }


def print_table(
    args, fractions: list[float], results: list[dict], mlm: str, dev_n: int, started: str
) -> None:
    import yaml

    mlm_cfg = yaml.safe_load((Path(mlm) / "config.yaml").read_text())  # the run's own record
    mlm_steps, mlm_batch = mlm_cfg["train"]["max_steps"], mlm_cfg["train"]["batch_size"]
    mlm_seq, mlm_lr = mlm_cfg["data"]["seq_len"], mlm_cfg["train"]["lr"]
    swap = ", entity swap" if args.entity_swap else ""
    print(
        f"\nCoNLL-2003 dev entity F1 (seqeval strict IOB2, {dev_n} dev sentences), MiniLM-L6 after "
        f"{mlm_steps} MLM steps (batch {mlm_batch} x {mlm_seq}, lr {mlm_lr:g}) on the train text; "
        f"fine-tuning batch {args.batch_size}, lr {args.lr:g}; "
        f"augmentation: {args.factor} copies, {args.word_fraction:g} of the non-entity words{swap}; "
        f"mean ± std over seeds {','.join(map(str, args.seeds))}; started {started}\n"
    )
    lines = []
    for frac in fractions:
        rows = [r for r in results if r["fraction"] == frac]
        plain = [r["dev_f1"] for r in rows if not r["augment"]]
        augd = [r["dev_f1"] for r in rows if r["augment"]]
        delta = [a - p for a, p in zip(augd, plain)]
        replaced = statistics.mean(r["augmentation"]["fraction_replaced"] for r in rows if r["augment"])
        lines.append([f"{frac * 100:g}", rows[0]["train_sentences"], rows[0]["steps"], mean_std(plain, zero_std=True),
                      mean_std(augd, zero_std=True), f"{statistics.mean(delta) * 100:+.2f}", f"{replaced:.3f}"])  # fmt: skip
    header = [
        "train %",
        "sentences",
        "steps",
        "no augmentation",
        "augmented",
        "Δ F1 points",
        "words replaced",
    ]
    print(markdown_table(header, lines, "rrrrrrr"))


def main() -> None:
    args = parser().parse_args()
    command, info = begin(__file__, None, args.threads, show_machine=True)
    fractions = [float(f) for f in args.fractions.split(",")]
    cmd = [sys.executable, "-m", "rawtune"]
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with workdir("rawtune-augment-bench-", args.keep_tmp) as tmp:
        data = Path(args.data_dir)
        train = read_conll(data / "train.txt")
        dev = read_conll(data / "dev.txt")[: args.dev_sentences]
        write_conll(train, tmp / "train.conll")
        write_conll(dev, tmp / "dev.conll")
        write_raw_text(train, tmp / "train.txt")
        mlm, mlm_wall = args.mlm, None
        if mlm is None:
            log(f"[mlm] rawtune pretrain, {args.mlm_steps} steps on {len(train)} train sentences")
            mlm_wall, mlm = pretrain_mlm(args, cmd, tmp / "train.txt", tmp), str(tmp / "mlm")
        results: list[dict] = []
        for frac in fractions:
            n = max(1, round(len(train) * frac))
            steps = max(args.min_steps, math.ceil(args.epochs * n / args.batch_size))
            steps = min(steps, args.max_steps) if args.max_steps else steps
            for seed in args.seeds:
                for factor in (0, args.factor):
                    log(f"[f{frac:g}-s{seed}-a{factor}] {n} train sentences, {steps} steps, augment {factor}")
                    row = {
                        "fraction": frac,
                        "train_sentences": n,
                        "seed": seed,
                        "augment": factor,
                        "steps": steps,
                    }
                    row.update(finetune(args, cmd, mlm, frac, steps, seed, factor, tmp))
                    log(
                        f"  dev F1 {row['dev_f1']:.4f}, {row['train_examples']} train examples, {row['wall_s']:.0f}s"
                    )
                    results.append(row)
        print_table(args, fractions, results, mlm, len(dev), started)
        total = (mlm_wall or 0) + sum(r["wall_s"] for r in results)
        print(f"\nwall time: {total / 60:.1f} min (MLM {0 if mlm_wall is None else mlm_wall / 60:.1f} min)")
        write_payload(args.json, command, info, args=json_args(args), results=results)


if __name__ == "__main__":
    main()
