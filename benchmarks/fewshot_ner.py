"""Few-shot NER on CoNLL-2003 dev: k sentences per entity type (the greedy protocol of Yang & Katiyar
2020, `rawtune.data.kshot.sample_ner_sentences`), for each seed, tagged by

- nnshot: each word takes the label of its nearest labeled word (no training),
- proto: each word takes the nearest type prototype (no training),
- finetune: `rawtune fewshot --task ner --learner finetune` on the same sample (its defaults),

all from the packaged all-MiniLM-L6-v2, scored with strict entity F1 on the whole dev set. Prints
mean ± std over seeds and the mean wall time per run.

    python benchmarks/fewshot_ner.py                            # k = 5, 10, 50; 5 seeds; all methods
    python benchmarks/fewshot_ner.py --shots 5 --seeds 1 --methods nnshot,proto
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness import (
    DATA_DIR,
    add_data_dir,
    add_json,
    begin,
    markdown_table,
    mean_and_std,
    new_parser,
    span,
    write_payload,
)
from recipe import minilm

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def neighbours(method: str, model, tok, sample, dev_vectors, gold) -> float:
    from rawtune.evaluation.metrics import ner_metrics
    from rawtune.tasks.fewshot_ner import WordNeighbours, embed_words

    support = embed_words(model, tok, [e.tokens for e in sample])
    tagger = WordNeighbours.from_support(support, [e.tags for e in sample], method)
    return ner_metrics(gold, tagger.predict(dev_vectors))["f1"]


def finetune(k: int, model_path: str, train: str, dev: str, seed: int, args, root: Path) -> float:
    """`rawtune fewshot --task ner --learner finetune` for one seed: the same sample the neighbour
    methods get (both draw `sample_ner_sentences(pool, k, seed)`), the fewshot defaults
    (min_steps 300) unless --lr / --steps say otherwise."""
    from rawtune.stages.fewshot import run_fewshot

    cfg = {
        "output": str(root / f"run-{seed}-{k}"),
        "task": "ner",
        "method": "finetune",
        "shots": k,
        "seed": seed,
        "model": {"name_or_path": model_path},
        "data": {"train": train, "dev": dev},
        "finetune": {"progress": False, **({"lr": args.lr} if args.lr else {})},
        **({"min_steps": args.steps} if args.steps is not None else {}),
    }
    return run_fewshot(cfg)["dev"]["f1"]["mean"]


def main() -> None:
    ap = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    add_data_dir(ap, "folder with train.txt and dev.txt (CoNLL-2003)", DATA_DIR / "conll2003")
    ap.add_argument("--shots", default="5,10,50")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default="nnshot,proto,finetune")
    ap.add_argument("--steps", type=int, help="fine-tuning step floor (default: fewshot's, 300 for NER)")
    ap.add_argument("--lr", type=float, help="fine-tuning learning rate (default: fewshot's)")
    add_json(ap)
    args = ap.parse_args()
    command, info = begin(__file__, None, None, show_machine=True)
    from transformers import AutoModel, AutoTokenizer

    from rawtune.data.kshot import sample_ner_sentences
    from rawtune.data.readers.labeled import read_token_file
    from rawtune.tasks.fewshot_ner import embed_words

    model_path = minilm()
    train = read_token_file(str(Path(args.data_dir) / "train.txt"))
    dev_file = str(Path(args.data_dir) / "dev.txt")
    dev = read_token_file(dev_file)
    gold = [e.tags for e in dev.examples]
    methods = args.methods.split(",")
    tok, model = AutoTokenizer.from_pretrained(model_path), None
    dev_vectors = None
    if {"nnshot", "proto"} & set(methods):
        model = AutoModel.from_pretrained(model_path)
        start = time.time()
        dev_vectors = embed_words(model, tok, [e.tokens for e in dev.examples])
        print(f"dev embedded once: {len(dev.examples)} sentences in {time.time() - start:.0f} s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rawtune-fsner-") as tmp:
        for k in (int(s) for s in args.shots.split(",")):
            for method in methods:
                scores, seconds, sizes = [], [], []
                for seed in range(args.seeds):
                    sample = sample_ner_sentences(train.examples, k, seed)
                    start = time.time()
                    if method == "finetune":
                        train_file = str(Path(args.data_dir) / "train.txt")
                        scores.append(finetune(k, model_path, train_file, dev_file, seed, args, Path(tmp)))
                    else:
                        scores.append(neighbours(method, model, tok, sample, dev_vectors, gold))
                    seconds.append(time.time() - start)
                    sizes.append(len(sample))
                mean, std = mean_and_std(scores)
                rows.append(
                    {
                        "k": k,
                        "method": method,
                        "scores": scores,
                        "mean": mean,
                        "std": std,
                        "sentences": sizes,
                        "seconds": statistics.fmean(seconds),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print(f"\nCoNLL-2003 dev entity F1, k sentences per type, {args.seeds} seeds (packaged all-MiniLM-L6-v2)")
    header = ["k", "sentences", "method", "F1 mean ± std", "s per run"]
    print(markdown_table(header, [
        [r["k"], span(r["sentences"]), r["method"], f"{r['mean']:.4f} ± {r['std']:.4f}", f"{r['seconds']:.0f}"]
        for r in rows
    ]))  # fmt: skip
    write_payload(args.json, command, info, rows=rows)


if __name__ == "__main__":
    main()
