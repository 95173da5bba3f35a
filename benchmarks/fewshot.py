"""Few-shot classification, measured: accuracy with k examples per class drawn from a pool, for
SetFit-style contrastive fine-tuning + logistic head (with and without the label descriptions as
extra examples) against plain fine-tuning of a classification head, all from the packaged
all-MiniLM-L6-v2 with rawtune's defaults; mean ± std over seeds (every method sees the same k-shot
sample for a seed). k = 0 is zero-shot: embedding similarity to the same label descriptions.
Issue 8's targets: SetFit-style >= 10 points above plain fine-tuning at k = 8 on SST-2; zero-shot
clearly above the majority class. Quality, not speed: wall times are this shared machine's.

Data (../shared/data): SST-2 pool = train.tsv, scored on dev.tsv (872). TREC has only
train_5500.label: a seeded split keeps 1,000 questions for scoring and draws from the other 4,452
(coarse labels). The label descriptions are the ones written before any run (benchmarks/corpora.py;
benchmarks/zeroshot.py uses them too).

    python benchmarks/fewshot.py                                  # both sets, k=0,8,16,64, 5 seeds
    python benchmarks/fewshot.py --sets sst2 --shots 8 --methods setfit,finetune --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from corpora import SST2_DESCRIPTIONS, TREC_DESCRIPTIONS, read_trec, write_csv
from harness import DATA_DIR, add_json, begin, markdown_table, new_parser, write_payload
from recipe import minilm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = DATA_DIR
METHODS = {"setfit": ("setfit", False), "setfit+desc": ("setfit", True), "finetune": ("finetune", False)}


def trec_split(root: Path, held_out: int = 1000) -> tuple[Path, Path]:
    """(pool.csv, eval.csv) from train_5500.label: a seed-0 shuffle, the first `held_out` scored."""
    rows = read_trec(DATA / "trec" / "train_5500.label")
    random.Random(0).shuffle(rows)
    out = []
    for name, part in (("trec_eval.csv", rows[:held_out]), ("trec_pool.csv", rows[held_out:])):
        write_csv(part, root / name, ("text", "label"))
        out.append(root / name)
    return out[1], out[0]


def datasets(root: Path, names: list[str]) -> dict[str, dict]:
    sets = {}
    if "sst2" in names:
        sets["sst2"] = {
            "data": {
                "train": str(DATA / "sst2" / "train.tsv"),
                "dev": str(DATA / "sst2" / "dev.tsv"),
                "text_column": "sentence",
            },
            "descriptions": SST2_DESCRIPTIONS,
        }
    if "trec" in names:
        pool, held = trec_split(root)
        sets["trec"] = {"data": {"train": str(pool), "dev": str(held)}, "descriptions": TREC_DESCRIPTIONS}
    return sets


def fewshot(model: str, spec: dict, method: str, k: int, seeds: int, out: Path) -> dict:
    from rawtune.stages.fewshot import run_fewshot

    name, with_desc = METHODS[method]
    cfg = {
        "output": str(out),
        "method": name,
        "shots": k,
        "seeds": seeds,
        "model": {"name_or_path": model},
        "data": spec["data"],
        "setfit": {"train": {"progress": False}},
        "finetune": {"progress": False},
    }
    if with_desc:
        cfg["descriptions"] = spec["descriptions"]
    s = run_fewshot(cfg)["dev"]
    return {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}


def zeroshot(model: str, spec: dict, out: Path) -> dict:
    import rawtune

    d = spec["data"]
    labels = list(spec["descriptions"])
    cfg = {
        "output": str(out),
        "model": {"name_or_path": model},
        "data": {"file": d["dev"], "text_column": d.get("text_column", "text")},
        "labels": labels,
        "descriptions": spec["descriptions"],
    }
    m = json.loads((rawtune.zeroshot(cfg).path / "metrics.json").read_text())["dev"]
    one = lambda v: {"mean": v, "std": 0.0, "values": [v]}  # noqa: E731
    return {
        "accuracy": one(m["accuracy"]),
        "macro_f1": one(m["macro_f1"]),
        "majority": m["majority_baseline"],
    }


def main() -> None:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="sst2,trec")
    ap.add_argument("--shots", default="0,8,16,64")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default="setfit,setfit+desc,finetune")
    ap.add_argument("--model", help="sentence encoder (default: the packaged all-MiniLM-L6-v2)")
    add_json(ap)
    args = ap.parse_args()
    command, info = begin(__file__, None, None, show_machine=True)
    args.model = args.model or minilm()

    root = Path(tempfile.mkdtemp(prefix="rawtune-fewshot-"))
    rows: list[dict] = []
    try:
        for set_name, spec in datasets(root, args.sets.split(",")).items():
            for k in (int(x) for x in args.shots.split(",")):
                for method in ["zero-shot"] if k == 0 else args.methods.split(","):
                    start = time.perf_counter()
                    out = root / f"{set_name}-{k}-{method}"
                    if k == 0:
                        r = zeroshot(args.model, spec, out)
                    else:
                        r = fewshot(args.model, spec, method, k, args.seeds, out)
                    rows.append(
                        {
                            "set": set_name,
                            "k": k,
                            "method": method,
                            **r,
                            "wall_s": time.perf_counter() - start,
                        }
                    )
                    print(_line(rows[-1]), flush=True)
                    write_payload(args.json, command, info, rows=rows)  # rewritten after every row
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nall-MiniLM-L6-v2, {args.seeds} seeds per few-shot row (accuracy and macro F1: mean ± std)")
    print(markdown_table(["set", "k", "method", "accuracy", "macro F1", "wall s"], [_cells(r) for r in rows]))


def _cells(r: dict) -> list:
    a, f = r["accuracy"], r["macro_f1"]
    extra = f" (majority {r['majority']:.4f})" if "majority" in r else ""
    return [r["set"], r["k"], f"{r['method']}{extra}", f"{a['mean']:.4f} ± {a['std']:.4f}",
            f"{f['mean']:.4f} ± {f['std']:.4f}", f"{r['wall_s']:.0f}"]  # fmt: skip


def _line(r: dict) -> str:
    """One table row, printed as soon as it is measured."""
    return markdown_table(["set", "k", "method", "accuracy", "macro F1", "wall s"], [_cells(r)]).splitlines()[
        -1
    ]


if __name__ == "__main__":
    main()
