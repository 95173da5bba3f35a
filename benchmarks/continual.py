"""Continual learning on CoNLL-2003, measured: a model learns PER and LOC first, then a new batch
of sentences arrives annotated with all four types (the guideline added ORG and MISC). Phase 2 is
`rawtune continual` with naive re-fine-tuning (no replay), replay, and replay + EWC or L2-SP (a
method `replay+ewc@10` sets that run's strength; `--ewc-strength` is the default); the reference
is one model trained on both phases' files at once (joint), and the upper bound: the same sentences with
phase 1 annotated for all four types (as CoNLL has it). Reported on CoNLL dev: old-type F1
(PER, LOC) after phase 1 and after phase 2, new-type F1 (ORG, MISC), and the forgetting rawtune
itself measured (old-type dev set, before -> after). Issue 9's target: replay or EWC keeps old-type
F1 within 1 point of phase 1 while reaching >= 98 % of joint training's new-type F1.

Data: a seeded shuffle of train.txt's sentences; phase 1 = the first --phase1 sentences with ORG and
MISC tags set to O, phase 2 = the next --phase2 sentences as annotated. All from the packaged
all-MiniLM-L6-v2; one seed (quality, not speed: wall times are this shared machine's).

    python benchmarks/continual.py                                   # 3000 + 1000 sentences
    python benchmarks/continual.py --phase1 300 --phase2 100 --epochs 1   # smoke
    python benchmarks/continual.py --methods replay,replay+ewc@1,replay+l2sp@0.01 --skip-joint
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from corpora import read_conll, write_conll
from harness import DATA_DIR, add_json, begin, json_args, markdown_table, new_parser, write_payload
from recipe import minilm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = DATA_DIR / "conll2003"
OLD, NEW = ("PER", "LOC"), ("ORG", "MISC")


def only(sentences: list, kinds: tuple[str, ...]) -> list:
    """The sentences with every tag of a type outside `kinds` set to O."""
    return [[[*tok[:-1], tok[-1] if tok[-1][2:] in kinds else "O"] for tok in s] for s in sentences]


def train_cfg(args, out: Path) -> dict:
    return {
        "epochs": args.epochs,
        "batch_size": 16,
        "eval_steps": 100_000,
        "save_steps": 100_000,
        "restore_best": False,
        "progress": False,
    }


def f1_by_type(run: Path, which: str = "dev") -> dict:
    m = json.loads((run / "metrics.json").read_text())
    return {t: v["f1"] for t, v in m[which]["per_type"].items()}


def mean(d: dict, kinds) -> float:
    return sum(d.get(k, 0.0) for k in kinds) / len(kinds)


def write_phases(root: Path, args) -> dict[str, Path]:
    """The phase files: phase 1 (PER, LOC only), phase 2, both joined, both with phase 1 fully annotated,
    and the old-type dev set."""
    sents = [s for s in read_conll(DATA / "train.txt") if s]
    random.Random(0).shuffle(sents)
    p1, p2 = only(sents[: args.phase1], OLD), sents[args.phase1 : args.phase1 + args.phase2]
    files = {"p1": root / "phase1.conll", "p2": root / "phase2.conll", "joint": root / "joint.conll"}
    files["full"] = root / "joint_full.conll"
    write_conll(p1, files["p1"])
    write_conll(p2, files["p2"])
    write_conll(p1 + p2, files["joint"])
    write_conll(sents[: args.phase1] + p2, files["full"])  # phase 1 as CoNLL annotates it: all types
    files["dev_old"] = root / "dev_old.conll"
    write_conll(only(read_conll(DATA / "dev.txt"), OLD), files["dev_old"])
    return files


def phase2(method: str, v1: Path, files: dict, root: Path, args) -> Path:
    """`rawtune continual` from the phase 1 run; `replay+ewc@S` sets the penalty's strength."""
    from rawtune.stages.continual import run_continual

    kind, _, strength = method.partition("@")
    reg = next((r for r in ("ewc", "l2sp") if kind.endswith("+" + r)), None)
    regularize = {"method": reg, "strength": float(strength or args.ewc_strength)} if reg else {}
    cfg = {
        "previous": str(v1),
        "output": str(root / method),
        "seed": 1,
        "data": {"new": str(files["p2"]), "dev": str(DATA / "dev.txt")},
        "replay": {"ratio": 0.0 if method == "naive" else 1.0},
        "regularize": regularize,
        "train": train_cfg(args, root),
    }
    run = root / method
    if not (run / "metrics.json").is_file():
        run = run_continual(cfg).run.path
    return run


def main() -> None:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase1", type=int, default=3000)
    ap.add_argument("--phase2", type=int, default=1000)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--ewc-strength", type=float, default=100.0)
    ap.add_argument("--methods", default="naive,replay,replay+ewc")
    ap.add_argument(
        "--skip-joint",
        action="store_true",
        help="no joint references (the %% of upper bound column is empty)",
    )
    add_json(ap)
    ap.add_argument(
        "--root", help="work directory; complete runs already in it are reused (default: a new temp dir)"
    )
    args = ap.parse_args()
    command, info = begin(__file__, None, None, show_machine=True)

    from rawtune.stages.finetune import run_finetune

    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="rawtune-continual-"))
    root.mkdir(parents=True, exist_ok=True)
    files = write_phases(root, args)
    base = {"model": {"name_or_path": minilm()}, "task": {"name": "ner"}, "seed": 1}
    rows, walls = {}, {}

    def finetune(name: str, train: Path, dev: Path) -> Path:
        if (root / name / "metrics.json").is_file():
            return root / name  # complete: reused
        t0 = time.perf_counter()
        cfg = {**base, "output": str(root / name), "data": {"train": str(train), "dev": str(dev)}}
        run = run_finetune({**cfg, "train": train_cfg(args, root)})
        walls[name] = time.perf_counter() - t0
        return run.path

    v1 = finetune("phase1", files["p1"], files["dev_old"])
    rows["phase 1 (PER, LOC)"] = f1_by_type(v1)
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        run = phase2(method, v1, files, root, args)
        walls[method] = time.perf_counter() - t0
        rows[f"phase 2: {method}"] = f1_by_type(run)
        forgetting = json.loads((run / "metrics.json").read_text())["forgetting"]
        rows[f"phase 2: {method}"]["_forgetting"] = forgetting["forgetting_points"]
    upper = "joint, phase 1 fully annotated (upper bound)"
    if not args.skip_joint:
        joint = finetune("joint", files["joint"], DATA / "dev.txt")
        rows["joint (both phases' files at once)"] = f1_by_type(joint)
        rows[upper] = f1_by_type(finetune("joint_full", files["full"], DATA / "dev.txt"))

    print_table(rows, walls, args, upper)
    write_payload(args.json, command, info, rows=rows, walls=walls, args=json_args(args))


def print_table(rows: dict, walls: dict, args, upper: str) -> None:
    ref_old = mean(rows["phase 1 (PER, LOC)"], OLD)
    ref_new = mean(rows[upper], NEW) if upper in rows else 0.0
    print(
        f"\nCoNLL-2003 dev F1 by type; phase 1 = {args.phase1} sentences (PER, LOC only), phase 2 = "
        f"{args.phase2} new sentences (all types); {args.epochs} epochs each; all-MiniLM-L6-v2, seed 1"
    )
    keys = {
        "phase 1 (PER, LOC)": "phase1",
        "joint (both phases' files at once)": "joint",
        "joint, phase 1 fully annotated (upper bound)": "joint_full",
    }
    lines = []
    for name, f in rows.items():
        old, new = mean(f, OLD), mean(f, NEW)
        lines.append([
            name, *(f"{f.get(t, 0.0):.4f}" for t in ("PER", "LOC", "ORG", "MISC")), f"{old:.4f}",
            f"{100 * (old - ref_old):+.2f}", f"{new:.4f}", f"{100 * new / ref_new:.1f}" if ref_new else "—",
            f"{f['_forgetting']:.2f}" if "_forgetting" in f else "—", f"{walls.get(keys.get(name, name[9:]), 0):.0f}",
        ])  # fmt: skip
    header = ["model", "PER", "LOC", "ORG", "MISC", "old (PER, LOC)", "vs phase 1", "new (ORG, MISC)",
              "% of upper bound", "forgetting (rawtune)", "wall s"]  # fmt: skip
    print(markdown_table(header, lines))


if __name__ == "__main__":
    main()
