"""Hyperparameter search, measured: `rawtune hpo` on CoNLL-2003 NER with the packaged
all-MiniLM-L6-v2. The study picks on a dev subset (--search-dev sentences); the baseline (trial 0: the
fine-tuning defaults) and the best trial's model are then scored on the rest of dev, which the search
never saw, so the gain is not the optimistic number the search itself reports. Also reports the time
pruned trials took against what they would have cost run to the end (the mean complete trial).

    python benchmarks/hpo_conll.py                                   # 10 trials, median pruning
    python benchmarks/hpo_conll.py --trials 2 --train-sentences 200 --search-dev 100 --held-out 100   # smoke

Quality and time on this shared machine: wall times are loose, the ratio of pruned to complete is not.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from corpora import read_conll, write_conll
from harness import DATA_DIR, add_json, add_threads, begin, markdown_table, new_parser, write_payload
from recipe import minilm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = DATA_DIR / "conll2003"
SPACE = """\
train.lr: {type: float, low: 1.0e-5, high: 5.0e-4, log: true}
train.batch_size: {type: categorical, choices: [8, 16, 32]}
train.warmup_ratio: {type: float, low: 0.0, high: 0.3}
"""


def write_data(root: Path, args) -> dict[str, Path]:
    """Train, search-dev and held-out files (seeded shuffles), and the search space."""
    train = [s for s in read_conll(DATA / "train.txt") if s]
    dev = [s for s in read_conll(DATA / "dev.txt") if s]
    random.Random(0).shuffle(train)
    random.Random(1).shuffle(dev)
    files = {n: root / f"{n}.conll" for n in ("train", "search", "held")}
    write_conll(train[: args.train_sentences], files["train"])
    write_conll(dev[: args.search_dev], files["search"])
    write_conll(dev[args.search_dev : args.search_dev + args.held_out], files["held"])
    (root / "space.yaml").write_text(SPACE)
    return files


def study_config(root: Path, files: dict[str, Path], args) -> dict:
    steps_at_16 = int(args.train_sentences * args.epochs / 16)
    train_cfg = {
        "epochs": args.epochs,
        "eval_steps": max(1, steps_at_16 // args.evals),
        "save_steps": 100_000,
        "restore_best": False,
        "progress": False,
    }
    if args.threads:
        train_cfg["threads"] = args.threads
    return {
        "output": str(root / "hpo"),
        "space": str(root / "space.yaml"),
        "trials": args.trials,
        "pruner": args.pruner,
        "finetune": {
            "model": {"name_or_path": minilm()},
            "task": {"name": "ner"},
            "data": {"train": str(files["train"]), "dev": str(files["search"])},
            "train": train_cfg,
        },
    }


def held_out_f1(run: str, held: Path) -> float:
    from rawtune.serve.predictor import Predictor
    from rawtune.tasks.base import Inference

    entry = Predictor.from_run(run).entry()
    data = entry.task.read(str(held))
    return entry.task.evaluate(entry.model, entry.tokenizer, data, entry.space, Inference(64))["f1"]


def main() -> None:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--train-sentences", type=int, default=1000)
    ap.add_argument("--search-dev", type=int, default=500, help="dev sentences the study optimises")
    ap.add_argument("--held-out", type=int, default=1500, help="other dev sentences, scored at the end")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--evals", type=int, default=4, help="evaluations per trial (at batch 16)")
    ap.add_argument("--pruner", default="median")
    add_threads(ap)
    ap.add_argument("--root", help="work directory (default: a new temp dir)")
    add_json(ap)
    args = ap.parse_args()
    command, info = begin(__file__, None, args.threads, show_machine=True)

    from rawtune.hpo.study import run_hpo

    root = Path(args.root or tempfile.mkdtemp(prefix="rawtune-hpo-"))
    root.mkdir(parents=True, exist_ok=True)
    files = write_data(root, args)
    t0 = time.perf_counter()
    summary = run_hpo(study_config(root, files, args))
    wall = time.perf_counter() - t0
    base_run = str(root / "hpo" / f"trial-{summary['baseline']['trial']}")
    held = {
        "baseline": held_out_f1(base_run, files["held"]),
        "best": held_out_f1(summary["best"]["run"], files["held"]),
    }
    rows = _trials(root / "hpo" / "trials.csv")
    complete = [r for r in rows if r["state"] == "complete"]
    pruned = [r for r in rows if r["state"] == "pruned"]
    mean_complete = sum(float(r["seconds"]) for r in complete) / len(complete)
    pruned_s = sum(float(r["seconds"]) for r in pruned)
    saved = len(pruned) * mean_complete - pruned_s
    print(
        f"\nrawtune hpo, CoNLL-2003 NER, all-MiniLM-L6-v2: {args.trials} trials on {args.train_sentences} "
        f"train sentences, {args.epochs} epochs; searched on {args.search_dev} dev sentences, scored on "
        f"{args.held_out} others; {args.pruner} pruning; wall {wall:.0f} s"
    )
    header = ["trial", "state", "lr", "batch", "warmup", "search-dev F1", "last step", "seconds"]
    print(markdown_table(header, [
        [f"{r['trial']}{' (baseline)' if r['baseline'] == 'True' else ''}", r["state"],
         f"{float(r['param.train.lr']):.2e}", r["param.train.batch_size"], f"{float(r['param.train.warmup_ratio']):.3f}",
         f"{float(r['value']):.4f}" if r["value"] else "—", r["last_step"], f"{float(r['seconds']):.0f}"]
        for r in rows
    ]))  # fmt: skip
    print(
        f"\nheld-out dev F1: baseline {held['baseline']:.4f}, best (trial {summary['best']['trial']}) "
        f"{held['best']:.4f}, gain {100 * (held['best'] - held['baseline']):+.2f} points "
        f"(search-dev gain {100 * summary['gain_over_baseline']:+.2f})"
    )
    print(
        f"pruning: {len(pruned)} trials pruned in {pruned_s:.0f} s; run to the end at the mean complete "
        f"trial's {mean_complete:.0f} s they would have taken {len(pruned) * mean_complete:.0f} s "
        f"(saved {saved:.0f} s, {100 * saved / (wall + saved):.0f} % of the study)"
    )
    write_payload(args.json, command, info, summary=summary, held_out=held, wall_s=wall)


def _trials(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


if __name__ == "__main__":
    main()
