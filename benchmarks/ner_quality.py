#!/usr/bin/env python
"""Benchmark: the NER model a user gets — dev entity F1 of CoNLL-2003 (all 14,041 train sentences -> 3,250 dev,
with their original document boundaries) or WNUT-17 (3,394 -> 1,009), the packaged all-MiniLM-L6-v2, several
seeds, each ingredient of rawtune's NER defaults in its own row, next to the Hugging Face run_ner.py recipe.

Rows (--rows; rawtune rows add one ingredient each, in this order, so every gain is measured):
  hf3       run_ner.py recipe: 3 epochs, batch 16, lr 5e-5, 10 % warm-up, group_by_length, fused AdamW, bf16
            where this machine runs it faster; the final model, scored by the shared evaluation (first sub-token, argmax).
  hf-long   the same with rawtune's default number of epochs (--default-epochs).
  before    rawtune's defaults before issue 24: fp32, sentences alone, no case features, per-word argmax,
            lr 5e-5, 3 epochs, batch 16, warm-up 0.1.
  bf16      + precision auto (bf16 where faster: the same quality is expected, the speed is not).
  doc       + document context (windows over each -DOCSTART- document; CoNLL only).
  case      + case features (word shapes as token-type embeddings; the tokenizer lowercases).
  viterbi   + Viterbi decoding over valid IOB2 transitions.
  default   rawtune's defaults now (no flags), i.e. + the learning rate and epochs chosen by the sweep.
  crf       the defaults + a CRF layer (task.crf).
Every run keeps its final model (no selection on dev: --train.restore_best false), evaluated once at the end.
The table shows dev entity F1 (seqeval strict IOB2 for rawtune, as `rawtune evaluate` reports it; the HF rows
through the shared code, strict), mean ± std over --seeds, per-type F1, token-level B-MISC and B-ORG F1 and the
training wall time (median); then the per-tag token report of the best rawtune row and of hf3.

    python benchmarks/ner_quality.py --seeds 1,2,3 --json ner_quality.json            # CoNLL-2003, all rows
    python benchmarks/ner_quality.py --dataset wnut17 --rows hf3,before,bf16,case,viterbi,default
    python benchmarks/ner_quality.py --train-sentences 300 --dev-sentences 200 --rows before,default   # smoke
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from corpora import read_conll, write_conll
from harness import (
    add_data_dir,
    add_outputs,
    add_seeds,
    add_threads,
    begin,
    fmt,
    log,
    machine_line,
    markdown_table,
    mean_std,
    median,
    new_parser,
    parse,
    parse_list,
    per_seed,
    require,
    spawn_worker,
    workdir,
)
from ner_hf import worker_eval, worker_hf
from recipe import Bench, add_versus_flags, finish, report_text, run_stage, train_wall_seconds, versus

BEFORE = [
    "--train.precision", "fp32", "--data.doc_context", "false", "--task.case_features", "false",
    "--task.decode", "argmax", "--train.lr", "5e-5", "--train.epochs", "3", "--train.batch_size", "16",
    "--train.warmup_ratio", "0.1",
]  # fmt: skip
BF16 = [*BEFORE[2:]]  # precision back to its default (auto)


def _without(flags: list[str], *keys: str) -> list[str]:
    out, skip = [], False
    for i, f in enumerate(flags):
        if skip:
            skip = False
            continue
        if f in keys and i + 1 < len(flags):
            skip = True
            continue
        out.append(f)
    return out


DOC = _without(BF16, "--data.doc_context")
CASE = _without(DOC, "--task.case_features")
VITERBI = _without(CASE, "--task.decode")
ROWS = {
    "hf3": ("hf run_ner.py, 3 epochs", None),
    "hf-long": ("hf run_ner.py, rawtune's epochs", None),
    "before": ("rawtune before (fp32, no context/case, argmax)", BEFORE),
    "bf16": ("+ precision auto", BF16),
    "doc": ("+ document context", DOC),
    "case": ("+ case features", CASE),
    "viterbi": ("+ Viterbi decoding", VITERBI),
    "default": ("rawtune default now (+ tuned lr/epochs)", []),
    "crf": ("default + CRF", ["--task.crf", "true"]),
}
DATASETS = {
    "conll2003": ("conll2003/train.docs.txt", "conll2003/dev.docs.txt"),
    "wnut17": ("wnut17/wnut17train.conll", "wnut17/emerging.dev.conll"),
}


def prepare(args, tmp: Path) -> dict:
    train_path, dev_path = (args.data_dir / p for p in DATASETS[args.dataset])
    files = {"train": str(train_path), "dev": str(dev_path)}
    train, dev = read_conll(train_path), read_conll(dev_path)
    if args.train_sentences or args.dev_sentences:  # smoke runs: a prefix (document marks dropped)
        train, dev = train[: args.train_sentences or None], dev[: args.dev_sentences or None]
        files = {"train": str(tmp / "train.conll"), "dev": str(tmp / "dev.conll")}
        write_conll(train, Path(files["train"]))
        write_conll(dev, Path(files["dev"]))
    info = {"dataset": args.dataset, "train_sentences": len(train), "dev_sentences": len(dev)}
    log(f"data: {args.dataset}, {len(train):,} train sentences, {len(dev):,} dev sentences")
    return {"files": files, "info": info}


def run_rawtune(b: Bench, row: str, seed: int, name: str) -> dict | str:
    out = b.tmp / name
    flags = [
        "--task", "ner", "--model", b.model, "--train", b.files["train"], "--dev", b.files["dev"],
        "--output", str(out), "--seed", str(seed), "--train.restore_best", "false",
        "--train.eval_before", "false", "--train.eval_steps", "1000000", "--train.save_steps", "1000000",
        "--train.progress", "false", *(["--train.threads", str(b.args.threads)] if b.args.threads else []),
        *ROWS[row][1], *shlex.split(b.args.rawtune_args or ""),
    ]  # fmt: skip
    metrics, wall = run_stage(b.cmd, "finetune", flags, out, b.args.threads, b.args.timeout)
    if metrics is None:
        return f"{name}: rawtune finetune failed (see log above)"
    dev, train = metrics.get("dev") or {}, metrics.get("train") or {}
    seconds = train_wall_seconds(out) or train.get("train_seconds")  # wall clock, as HF's train_runtime
    epochs = _epochs(out)
    return {
        "f1": dev.get("f1"),
        "f1_strict": dev.get("f1"),
        "per_type": {k: v.get("f1") for k, v in (dev.get("per_type") or {}).items()},
        "token_report": dev.get("token_report"),
        "train_seconds": seconds,
        "sentences_per_s": train["examples"] * epochs / seconds
        if seconds and epochs and "examples" in train
        else None,
        "steps": train.get("steps"),
        "wall_s": wall,
        "model_dir": str(out / "model"),
        "metrics_json": str(out / "metrics.json"),
    }


def run_hf(b: Bench, row: str, seed: int, name: str) -> dict | str:
    """The run_ner.py recipe with the peer's best documented settings (group_by_length, fused AdamW; bf16 where
    faster)."""
    epochs = b.args.default_epochs if row == "hf-long" else 3
    spec = {"kind": "hf", "model": b.model, "seed": seed, "epochs": epochs, "threads": b.args.threads,
            "train_file": b.files["train"], "dev_file": b.files["dev"], "output_dir": str(b.tmp / name / "trainer"),
            "group_by_length": True, "bf16": b.cache.setdefault("bf16", _bf16_faster()),
            "optim": "adamw_torch_fused"}  # fmt: skip
    res, wall = spawn_worker(b.script, spec, b.tmp, name, b.args.threads, b.args.timeout)
    if res is None:
        return f"{name} failed (see log above)"
    return {**res, "wall_s": wall}


def run_one(b: Bench, rep: int, seed: int, row: str) -> dict | str:
    name = f"{row}-s{seed}-r{rep}"
    log(f"[{name}] {ROWS[row][0]}, seed {seed} ...")
    res = run_hf(b, row, seed, name) if row.startswith("hf") else run_rawtune(b, row, seed, name)
    if isinstance(res, dict):
        res.update(name=name, seed=seed, rep=rep)
        log(
            f"  dev F1 (strict) {fmt(res.get('f1_strict'), '.4f')}, {fmt(res.get('train_seconds'))}s training"
        )
    return res


def _epochs(run: Path) -> float | None:
    """The epochs a rawtune run trained for (its resolved config)."""
    import yaml

    try:
        return float(yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def summarize(row: str, runs: list[dict], _scores: dict) -> dict:
    def token_f1(r: dict, tag: str) -> float | None:
        rep = r.get("token_report") or {}
        v = rep.get(tag) or {}
        return v.get("f1-score", v.get("f1"))

    types = sorted({t for r in runs for t in (r.get("per_type") or {}) if "avg" not in t})
    return {
        "row": ROWS[row][0],
        "key": row,
        "seeds": sorted({r["seed"] for r in runs}),
        "f1": per_seed(runs, lambda r: r.get("f1_strict")),
        "per_type": {t: per_seed(runs, lambda r, t=t: _type_f1(r, t)) for t in types},
        "b_misc": per_seed(runs, lambda r: token_f1(r, "B-MISC")),
        "b_org": per_seed(runs, lambda r: token_f1(r, "B-ORG")),
        "train_seconds": median([r.get("train_seconds") for r in runs]),
        "sentences_per_s": median([r.get("sentences_per_s") for r in runs]),
        "sentences_per_s_runs": [r.get("sentences_per_s") for r in runs],
        "runs": runs,
    }


def _type_f1(r: dict, t: str) -> float | None:
    v = (r.get("per_type") or {}).get(t)
    return v.get("f1-score", v.get("f1")) if isinstance(v, dict) else v


def render(summaries: list[dict], data: dict, info: dict, command: str) -> str:
    types = sorted({t for s in summaries for t in s["per_type"]})
    header = ["row", "dev F1 (strict)", *types, "B-MISC", "B-ORG", "train s"]
    rows = [
        [s["row"], mean_std(s["f1"]), *(mean_std(s["per_type"].get(t, []), ".3f") for t in types),
         mean_std(s["b_misc"], ".3f"), mean_std(s["b_org"], ".3f"), fmt(s["train_seconds"], ".0f")]
        for s in summaries
    ]  # fmt: skip
    d = data["info"]
    return "\n".join(
        [
            f"command: {command}",
            f"NER, all-MiniLM-L6-v2, {d['dataset']} train ({d['train_sentences']:,} sentences) -> dev "
            f"({d['dev_sentences']:,}); final models; mean ± std over seeds; train s = median training seconds",
            machine_line(info),
            "",
            markdown_table(header, rows, "l" + "r" * (len(header) - 1)),
        ]
    )


def reports(summaries: list[dict]) -> str:
    out = []
    rt = [s for s in summaries if not s["key"].startswith("hf") and s["f1"]]
    picks = ([max(rt, key=lambda s: sum(s["f1"]) / len(s["f1"]))] if rt else []) + [
        s for s in summaries if s["key"] == "hf3"
    ]
    for s in picks:
        run = next((r for r in s["runs"] if r.get("token_report")), None)
        if run:
            out += [
                f"\nper-tag token report, {s['row']} (seed {run['seed']}):",
                "```",
                report_text(run["token_report"]),
                "```",
            ]
    return "\n".join(out)


def parser():
    p = new_parser(__doc__.split("\n\n")[0], worker=True)
    add_data_dir(p, "folder holding conll2003/ and wnut17/")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="conll2003")
    p.add_argument("--rows", default=",".join(ROWS), help=f"any of {','.join(ROWS)}")
    p.add_argument(
        "--default-epochs", type=float, default=5.0, help="rawtune's default epochs (the hf-long row)"
    )
    p.add_argument("--train-sentences", type=int, default=None, help="first K train sentences (smoke runs)")
    p.add_argument("--dev-sentences", type=int, default=None, help="first K dev sentences (smoke runs)")
    add_seeds(p, "1,2,3")
    add_threads(p)
    add_versus_flags(p, 4 * 3600, "extra flags for every rawtune finetune")
    add_outputs(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = parse(p, argv, {"hf": worker_hf, "eval": worker_eval})
    rows = parse_list(args.rows, ROWS, "--rows", p)
    require(p, args.data_dir, DATASETS[args.dataset])
    command, info = begin(__file__, argv, args.threads)
    args.no_shared_eval = (
        True  # rawtune rows report rawtune's own strict F1; the HF rows are scored by ner_hf
    )
    with workdir("rawtune-ner-quality-", args.keep_tmp) as tmp:
        data = prepare(args, tmp)
        b = Bench(args, data["files"], tmp, __file__)
        summaries, skipped = versus(
            b, rows, {k: v[0] for k, v in ROWS.items()}, ("finetune",), run_one, summarize
        )
    return finish(
        args,
        command,
        info,
        data["info"],
        summaries,
        skipped,
        render(summaries, data, info, command),
        reports(summaries),
    )


def _bf16_faster() -> bool:
    """The peer gets bf16 where this machine runs it faster (rawtune's own measured choice)."""
    from rawtune.modeling.precision import resolve

    return resolve("auto").precision == "bf16"


if __name__ == "__main__":
    sys.exit(main())
