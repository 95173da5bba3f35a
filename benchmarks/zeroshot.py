"""Zero-shot classification with no training (`rawtune zeroshot`, embedding method) against the
majority-class baseline, on SST-2 dev and on TREC coarse question types.

    HF_HUB_OFFLINE=1 python benchmarks/zeroshot.py [--model DIR] [--data-root ../shared/data]

Label descriptions were written once, before any run, and never tuned on these sets: for SST-2 a
sentiment phrase per label; for TREC the six coarse class names of Li & Roth (2002), and, as a second
row, the bare label codes (ABBR, DESC, ...) that `--labels` alone would use. TREC is scored on
train_5500.label (5,452 questions): zero-shot trains on nothing, and the TREC-10 test file is kept out
of the shared data on purpose. The TREC file is converted to a CSV in a temporary directory (the data
is never written into the repository). The majority baseline is the most frequent gold label of the
evaluated set itself. Prints a Markdown table."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from corpora import SST2_DESCRIPTIONS, TREC_DESCRIPTIONS, TREC_LABELS, read_trec, write_csv
from harness import add_data_dir, begin, markdown_table, new_parser
from recipe import minilm


def run(name: str, config: dict, out: Path) -> dict:
    import rawtune

    start = time.perf_counter()
    run_dir = rawtune.zeroshot({**config, "output": str(out / name)})
    wall = time.perf_counter() - start
    dev = json.loads((run_dir.path / "metrics.json").read_text())["dev"]
    return {"name": name, "wall": wall, **dev}


def main() -> None:
    ap = new_parser(__doc__.splitlines()[0], argparse.HelpFormatter)
    ap.add_argument("--model", help="sentence encoder (default: the packaged all-MiniLM-L6-v2)")
    add_data_dir(ap, "folder holding sst2/ and trec/", flag="--data-root")
    args = ap.parse_args()
    begin(__file__, None, None, show_machine=True)
    args.model = args.model or minilm()
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
        write_csv(read_trec(root / "trec/train_5500.label"), trec_csv, ("text", "label"))
        trec = {"model": model, "data": {"file": str(trec_csv)}, "labels": TREC_LABELS}
        results.append(run("TREC-6 train_5500", {**trec, "descriptions": TREC_DESCRIPTIONS}, out))
        results.append(run("TREC-6 train_5500 (label codes)", trec, out))
    print(f"model: {args.model}\n")
    header = ["dataset", "method", "n", "accuracy", "macro F1", "majority baseline", "wall s"]
    print(markdown_table(header, [
        [r["name"], "embedding", r["n"], f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}",
         f"{r['majority_baseline']:.4f} ({r['majority_label']})", f"{r['wall']:.1f}"]
        for r in results
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
