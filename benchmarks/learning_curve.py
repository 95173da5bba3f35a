"""What task-adaptive pretraining buys, measured: dev entity F1 against labeled examples, fine-tuned from
the packaged all-MiniLM-L6-v2 as it is and after TAPT (MLM on the training sentences' own text).

Runs the `tapt-learning-curve` pipeline preset (rawtune config init tapt-learning-curve) on a CoNLL-format
train/dev pair from ../shared/data, then prints one row per fraction. Quality, not speed: the numbers do
not depend on the machine's load.

    python benchmarks/learning_curve.py                                   # WNUT-17, 4 fractions
    python benchmarks/learning_curve.py --dataset conll2003 --fractions 0.01,0.05
    python benchmarks/learning_curve.py --output runs/lc --keep           # a re-run reuses finished stages
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from harness import (
    DATA_DIR,
    add_data_dir,
    add_json,
    begin,
    json_args,
    markdown_table,
    new_parser,
    write_payload,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FILES = {
    "wnut17": ("wnut17/wnut17train.conll", "wnut17/emerging.dev.conll"),
    "conll2003": ("conll2003/train.txt", "conll2003/dev.txt"),
}


def pipeline(args: argparse.Namespace, out: Path) -> dict:
    from rawtune.pipeline import presets

    spec = yaml.safe_load(presets.text("tapt-learning-curve"))
    train, dev = (str(Path(args.data_dir) / f) for f in FILES[args.dataset])
    spec["output"] = str(out)
    stages = {s["name"]: s for s in spec["stages"]}
    stages["data"]["config"]["files"] = {"train": train, "dev": dev}
    stages["tapt"]["config"]["train"].update(epochs=args.tapt_epochs, progress=False)
    curve = stages["curve"]["config"]
    curve["fractions"] = [float(f) for f in args.fractions.split(",")]
    curve["min_steps"] = args.min_steps
    curve["train"].update(
        epochs=args.epochs, lr=args.lr, eval_steps=args.eval_steps, save_steps=args.eval_steps
    )
    curve["train"]["progress"] = False
    return spec


def main() -> None:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(FILES), default="wnut17")
    add_data_dir(ap, "folder holding wnut17/ and conll2003/", DATA_DIR)
    ap.add_argument("--fractions", default="0.01,0.05,0.2,1.0")
    ap.add_argument("--tapt-epochs", type=float, default=10.0)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--min-steps", type=int, default=300, help="each point trains at least this many steps")
    ap.add_argument("--eval-steps", type=int, default=100)
    ap.add_argument("--output", help="pipeline output directory (default: a temp dir, removed unless --keep)")
    ap.add_argument("--keep", action="store_true")
    add_json(ap)
    args = ap.parse_args()
    command, info = begin(__file__, None, None, show_machine=True)

    from rawtune.logs import setup_logging
    from rawtune.pipeline import Pipeline
    from rawtune.pipeline.spec import validate_pipeline

    setup_logging()
    out = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="rawtune-lc-")) / "pipe"
    spec = pipeline(args, out)
    start = time.time()
    state = Pipeline(validate_pipeline(spec, "benchmark", {}), "benchmark").run(serve=False, progress=False)
    wall = time.time() - start
    curve = json.loads((out / "curve" / "learning_curve.json").read_text())
    by_name = {s["name"]: s["points"] for s in curve["series"]}
    tapt = json.loads((out / "tapt" / "metrics.json").read_text())
    print(
        f"\n{args.dataset}: dev entity {curve['metric']} by labeled training sentences "
        f"(all-MiniLM-L6-v2; TAPT: {args.tapt_epochs:g} epochs of MLM on the training text)"
    )
    header = ["fraction", "sentences", "base", "after TAPT", "gain (points)"]
    print(markdown_table(header, [
        [f"{b['fraction']:g}", b["examples"], f"{b['value']:.4f}", f"{t['value']:.4f}", f"{(t['value'] - b['value']) * 100:+.2f}"]
        for b, t in zip(by_name["base"], by_name["tapt"])
    ]))  # fmt: skip
    stage_s = {s["name"]: s.get("seconds") for s in state["stages"]}
    before, after = tapt.get("before") or {}, tapt.get("after") or {}
    print(f"\nwall {wall:.0f} s; stage seconds: {stage_s}")
    print(
        f"TAPT validation MLM loss {before.get('loss', float('nan')):.3f} -> {after.get('loss', float('nan')):.3f}"
    )
    write_payload(args.json, command, info, args=json_args(args), curve=curve, stages=stage_s, tapt=tapt)
    if not args.output and not args.keep:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
