"""What raw text buys, measured (issue 25): the dev metric, mean ± std over seeds, of each way to use
unlabeled text, against plain fine-tuning on the same labeled subset.

  conll2003  NER (dev entity F1) with 1 %, 5 %, 20 % and 100 % of train. Unlabeled text: the
             Reuters-21578 article bodies (domain-adaptive pretraining, self-training) and the train
             sentences without their labels (task-adaptive pretraining).
  sst2       sentiment (dev accuracy) with 1 % and 5 % of train labeled; all train sentences without
             labels for TAPT, the rest of train (not the labeled subset) for self-training. No domain
             corpus: no DAPT+TAPT row.

Rows: plain fine-tuning; TAPT (MLM on the task's sentences, then fine-tuning); DAPT+TAPT (MLM on
Reuters, then on the task's sentences, then fine-tuning); self-training (the plain model labels the
unlabeled text, a student learns from gold + confident labels); the best combination (self-training
on top of the adapted model: DAPT+TAPT, TAPT for SST-2); the `raw-text-pick` preset's pick (its
`choose` stage over plain, adapted, self-training and the combination: the best on dev, plain on a tie).

Each dataset is one rawtune pipeline: per seed the pretraining stages, then per fraction the labeled
subset's fine-tunings, self-training and choice. The subsets are seeded and nested (for a seed, 1 % is
inside 5 % is inside 20 %): the same labeled examples for every row. Every stage is an ordinary run
(OUTPUT/<dataset>/<stage>/ with its report); OUTPUT/<dataset>/report.html shows the pipeline. A re-run
with the same --output reuses finished stages (a new seed's or fraction's subset added to the data
stage re-runs only the stages that read it), so a long measurement can be done in pieces
(--fractions, --seeds, --rows) and the table printed again with everything measured.

    python benchmarks/raw_text_gain.py                                  # everything, 3 seeds: many hours
    python benchmarks/raw_text_gain.py --datasets sst2 --seeds 1 --rows plain,selftrain
    python benchmarks/raw_text_gain.py --output runs/rtg --fractions 0.01 --reuters-docs 2000 \\
        --dapt-steps 300 --tapt-steps 200 --max-unlabeled 5000 --max-dev 1000   # a smaller measurement
    python benchmarks/raw_text_gain.py --smoke                          # a few steps of everything
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from corpora import read_conll, read_sst2, reuters_to_text, write_conll, write_csv
from harness import (
    add_data_dir,
    add_json,
    add_seeds,
    add_threads,
    begin,
    json_args,
    log,
    markdown_table,
    mean_and_std,
    new_parser,
    parse_list,
    require,
    write_payload,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROWS = ("plain", "tapt", "dapt_tapt", "selftrain", "best_combination", "preset_pick")
ROW_NAMES = {
    "plain": "plain fine-tuning",
    "tapt": "TAPT",
    "dapt_tapt": "DAPT+TAPT",
    "selftrain": "self-training",
    "best_combination": "best combination (self-training on the adapted model)",
    "preset_pick": "raw-text-pick preset's pick",
}
DATASETS = {"conll2003": "ner", "sst2": "classification"}
METRIC = {"conll2003": "f1", "sst2": "accuracy"}


def tag(fraction: float) -> str:
    return f"{fraction * 100:g}".replace(".", "_")


# --- data ----------------------------------------------------------------------------------------
def nested_subsets(n: int, fractions: list[float], seed: int, must_cover: list[set[str]] | None = None):
    """{fraction: sorted example indices}: a seeded permutation's prefixes (smaller inside larger),
    each topped up so that every label of `must_cover` (one set per example) appears at least once."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    out = {}
    for f in fractions:
        k = max(1, round(f * n))
        chosen = order[:k]
        if must_cover is not None:
            have = set().union(*(must_cover[i] for i in chosen))
            for i in order[k:]:
                if must_cover[i] - have:
                    chosen.append(i)
                    have |= must_cover[i]
        out[f] = sorted(chosen)
    return out


def conll_labels(sentence: list[list[str]]) -> set[str]:
    return {cols[-1][2:] for cols in sentence if cols[-1] != "O"}


def write_data(args: argparse.Namespace, dataset: str, root: Path) -> dict[str, Any]:
    """The files of a dataset: for each seed the nested labeled subsets (and for SST-2 the rest of
    train, self-training's text), the dev set, the task's text (every train sentence, for TAPT) and
    the domain text. Returns {"files": {key: path}, "sizes": {(fraction, seed): examples}}."""
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    sizes: dict[tuple[float, int], int] = {}
    ner = dataset == "conll2003"
    if ner:
        train = read_conll(args.data_dir / "conll2003" / "train.txt")
        dev = read_conll(args.data_dir / "conll2003" / "dev.txt")
        cover = [conll_labels(s) for s in train]
    else:
        train = read_sst2(args.data_dir / "sst2" / "train.tsv")
        dev = read_sst2(args.data_dir / "sst2" / "dev.tsv")
        cover = [{lab} for _, lab in train]
    if args.max_dev and args.max_dev < len(dev):  # the same subset for every seed and row
        keep = set(random.Random(f"dev-{dataset}").sample(range(len(dev)), args.max_dev))
        dev = [d for i, d in enumerate(dev) if i in keep]
    for seed in args.seeds:
        for f, idx in nested_subsets(len(train), fractions_of(args, dataset), seed, cover).items():
            key = f"train_{tag(f)}_s{seed}"
            files[key] = root / f"train-{tag(f)}-seed{seed}.{'conll' if ner else 'csv'}"
            subset = [train[i] for i in idx]
            write_conll(subset, files[key]) if ner else write_csv(subset, files[key])
            sizes[(f, seed)] = len(idx)
            if not ner:  # self-training's text: the rest of train, unlabeled
                chosen = set(idx)
                files[f"rest_{tag(f)}_s{seed}"] = root / f"rest-{tag(f)}-seed{seed}.txt"
                rest = "".join(t + "\n" for i, (t, _) in enumerate(train) if i not in chosen)
                files[f"rest_{tag(f)}_s{seed}"].write_text(rest, encoding="utf-8")
    files["dev"] = root / f"dev.{'conll' if ner else 'csv'}"
    write_conll(dev, files["dev"]) if ner else write_csv(dev, files["dev"])
    files["text"] = root / "train-text.txt"
    texts = [" ".join(c[0] for c in s) for s in train] if ner else [t for t, _ in train]
    files["text"].write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    if ner:
        files["raw"] = root / f"reuters-{args.reuters_docs or 'all'}.txt"
        docs, chars = reuters_to_text(args.data_dir / "reuters21578", files["raw"], args.reuters_docs)
        log(f"Reuters-21578: {docs:,} article bodies, {chars:,} characters -> {files['raw']}")
    return {"files": {k: str(v) for k, v in files.items()}, "sizes": sizes}


def fractions_of(args: argparse.Namespace, dataset: str) -> list[float]:
    return args.fractions if dataset == "conll2003" else args.sst2_fractions


# --- the pipeline --------------------------------------------------------------------------------
class Names:
    """The stage names of one dataset's pipeline. Per seed S and fraction (tag T): plain_T_sS,
    tapt_T_sS (from `tapt`), adapted_T_sS (from `tapt_dapt`: TAPT after DAPT; SST-2 has no domain
    corpus, so its adapted model is TAPT's), selftrain_T_sS (teacher plain), both_T_sS (from the
    adapted model, its teacher the adapted fine-tuning), pick_T_sS (the preset's choice). The
    pretraining stages (dapt, tapt_dapt, tapt) carry _sS too, unless --shared-pretraining."""

    def __init__(self, dataset: str, shared: bool):
        self.ner, self.shared = dataset == "conll2003", shared

    def pre(self, name: str, seed: int) -> str:
        return name if self.shared else f"{name}_s{seed}"

    def adapted_pre(self, seed: int) -> list[str]:
        return [self.pre("dapt", seed), self.pre("tapt_dapt", seed)] if self.ner else [self.pre("tapt", seed)]

    def adapted_ft(self, t: str, seed: int) -> str:
        return f"{'adapted' if self.ner else 'tapt'}_{t}_s{seed}"

    def row(self, row: str, t: str, seed: int) -> tuple[list[str], list[str]]:
        """(the stage that scores the row, then its other own stages), (its pretraining stages)."""
        s, adapted = f"_{t}_s{seed}", self.adapted_ft(t, seed)
        return {
            "plain": ([f"plain{s}"], []),
            "tapt": ([f"tapt{s}"], [self.pre("tapt", seed)]),
            "dapt_tapt": ([f"adapted{s}"], self.adapted_pre(seed)),
            "selftrain": ([f"selftrain{s}", f"plain{s}"], []),
            "best_combination": ([f"both{s}", adapted], self.adapted_pre(seed)),
            "preset_pick": (
                [f"pick{s}", f"plain{s}", adapted, f"selftrain{s}", f"both{s}"],
                self.adapted_pre(seed),
            ),
        }[row]


def rows_of(args: argparse.Namespace, dataset: str) -> list[str]:
    return [r for r in args.rows if not (dataset == "sst2" and r == "dapt_tapt")]


def pipeline_spec(args: argparse.Namespace, dataset: str, data: dict[str, Any], out: Path) -> dict:
    """One dataset's pipeline, built from the `raw-text-pick` preset's stages: the stages every row
    of every (fraction, seed) needs, each once."""
    from rawtune.pipeline import presets

    preset = {s["name"]: s for s in yaml.safe_load(presets.text("raw-text-pick"))["stages"]}
    names = Names(dataset, args.shared_pretraining)
    wanted = {n for seed in args.seeds for f in fractions_of(args, dataset) for r in rows_of(args, dataset)
              for part in names.row(r, tag(f), seed) for n in part}  # fmt: skip
    stages: list[dict] = [{"name": "data", "kind": "prepare", "config": {"files": data["files"]}}]
    for seed in args.seeds[:1] if args.shared_pretraining else args.seeds:
        dapt, tapt_dapt, tapt = (names.pre(n, seed) for n in ("dapt", "tapt_dapt", "tapt"))
        stages += [
            _pretrain(args, preset["dapt"], dapt, None, "${data.raw}", args.dapt_steps, seed),
            _pretrain(args, preset["tapt"], tapt_dapt, dapt, "${data.text}", args.tapt_steps, seed),
            _pretrain(args, preset["tapt"], tapt, None, "${data.text}", args.tapt_steps, seed),
        ]
    for seed in args.seeds:
        for f in fractions_of(args, dataset):
            stages += _fraction_stages(args, dataset, names, preset, f, seed, data["sizes"][(f, seed)])
    kept = [st for st in stages if st["name"] == "data" or st["name"] in wanted]
    return {"name": f"raw-text-gain-{dataset}", "output": str(out), "model": args.model, "stages": kept}


def _fraction_stages(
    args, dataset: str, names: Names, preset: dict, f: float, seed: int, n: int
) -> list[dict]:
    t, s = tag(f), f"_{tag(f)}_s{seed}"
    ft = _finetune_config(args, dataset, f"${{data.train{s}}}", n, seed)
    unlabeled = "${data.raw}" if names.ner else f"${{data.rest{s}}}"
    adapted = names.adapted_ft(t, seed)
    out = [
        {"name": f"plain{s}", "kind": "finetune", "config": ft},
        {"name": f"tapt{s}", "kind": "finetune", "from": names.pre("tapt", seed), "config": ft},
        _selftrain(args, f"selftrain{s}", None, f"${{plain{s}}}", unlabeled, ft),
        _selftrain(args, f"both{s}", names.adapted_pre(seed)[-1], f"${{{adapted}}}", unlabeled, ft),
        {"name": f"pick{s}", "kind": "choose", "from": [f"plain{s}", adapted, f"selftrain{s}", f"both{s}"],
         "config": preset["pick"]["config"]},
    ]  # fmt: skip
    if names.ner:
        out.insert(
            2, {"name": f"adapted{s}", "kind": "finetune", "from": names.pre("tapt_dapt", seed), "config": ft}
        )
    return out


def _pretrain(args, preset: dict, name: str, source: str | None, corpus: str, cap: int, seed: int) -> dict:
    cfg = json.loads(json.dumps(preset["config"]))
    cfg["seed"] = seed
    cfg["data"]["corpus"] = [corpus]
    cfg["train"] = {**cfg.get("train", {}), "steps_cap": cap, "progress": False, "threads": args.threads}
    if args.pretrain_max_steps:  # --smoke: a fixed handful of steps
        cfg["train"].update(
            max_steps=args.pretrain_max_steps, eval_steps=max(1, args.pretrain_max_steps // 2)
        )
    cfg["head_warmup"] = {"max_steps": args.head_steps}
    stage = {"name": name, "kind": "pretrain", "config": cfg}
    if source:
        stage["from"] = source
    return stage


def _finetune_config(args: argparse.Namespace, dataset: str, train: str, examples: int, seed: int) -> dict:
    """Fine-tuning (the preset's, with the benchmark's budget): --ft-epochs over the subset but at
    least --min-steps steps, so that 1 % of the data still trains."""
    steps = args.ft_max_steps or max(args.min_steps, math.ceil(args.ft_epochs * examples / args.batch_size))
    cfg: dict[str, Any] = {
        "seed": seed,
        "task": {"name": DATASETS[dataset]},
        "data": {"train": train, "dev": "${data.dev}"},
        "train": {
            "max_steps": steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "eval_steps": min(args.eval_steps, steps),
            "save_steps": min(args.eval_steps, steps),
            "progress": False,
            "threads": args.threads,
        },
    }
    if dataset == "sst2":
        cfg["data"]["text_column"] = "sentence"
    return cfg


def _selftrain(args, name: str, source: str | None, teacher: str, unlabeled: str, ft: dict) -> dict:
    cfg = {
        **json.loads(json.dumps(ft)),
        "teacher": teacher,
        "unlabeled": [unlabeled],
        "rounds": args.rounds,
        "max_unlabeled": args.max_unlabeled,
        "select": {"threshold": args.threshold},
    }
    stage = {"name": name, "kind": "selftrain", "config": cfg}
    if source:
        stage["from"] = source
    return stage


# --- reading the results -------------------------------------------------------------------------
def stage_seconds(root: Path) -> dict[str, float]:
    try:
        state = json.loads((root / "pipeline.json").read_text())
    except (OSError, ValueError):
        return {}
    return {s["name"]: s.get("seconds") or 0.0 for s in state.get("stages", [])}


def dev_score(root: Path, stage: str, metric: str) -> float | None:
    """The dev metric of a stage's model: a fine-tuning run's, a self-training's best round's, a
    choice's winner's."""
    run = root / stage
    try:
        if (run / "choice.json").is_file():
            # the winner's dev metrics: the choice's own metric may be another (SST-2: macro F1)
            choice = json.loads((run / "choice.json").read_text())
            winner = {o["name"]: o for o in choice["options"]}[choice["winner"]["name"]]
            return winner["dev"].get(metric)
        if (run / "selftrain.json").is_file():
            best = Path(json.loads((run / "selftrain.json").read_text())["best"]["run"])
            run = best if best.is_absolute() else run / best
        return json.loads((run / "metrics.json").read_text())["dev"].get(metric)
    except (OSError, ValueError, KeyError):
        return None


def collect(args: argparse.Namespace, roots: dict[str, Path]) -> dict[str, Any]:
    """{"dataset|fraction|row": {"scores": [×100, per seed], "seconds": [its own stages, per seed],
    "pretrain": [its pretraining stages, per seed], "seeds": [...]}}."""
    cells: dict[str, dict[str, list]] = {}
    for dataset, root in roots.items():
        secs, names = stage_seconds(root), Names(dataset, args.shared_pretraining)
        for seed in args.seeds:
            for f in fractions_of(args, dataset):
                for row in rows_of(args, dataset):
                    own, pre = names.row(row, tag(f), seed)
                    score = dev_score(root, own[0], METRIC[dataset])
                    cell = cells.setdefault(
                        f"{dataset}|{f}|{row}", {k: [] for k in ("scores", "seconds", "pretrain", "seeds")}
                    )
                    if score is not None:
                        cell["scores"].append(100 * score)
                        cell["seconds"].append(sum(secs.get(s, 0.0) for s in own))
                        cell["pretrain"].append(sum(secs.get(s, 0.0) for s in pre))
                        cell["seeds"].append(seed)
    return cells


def table(args: argparse.Namespace, cells: dict[str, Any]) -> str:
    """One row per way to use raw text, one column per (dataset, fraction): mean ± std over seeds,
    and (in brackets) the mean gain over plain fine-tuning of the same seeds; then its wall time."""
    columns = [(d, f) for d in args.datasets for f in fractions_of(args, d)]
    header = ["row", *(f"{d} {f * 100:g} % (dev {METRIC[d]})" for d, f in columns), "wall time"]
    rows = []
    for row in args.rows:
        out, seconds, pre = [ROW_NAMES[row]], 0.0, {}
        for d, f in columns:
            c, base = cells.get(f"{d}|{f}|{row}"), cells.get(f"{d}|{f}|plain")
            if not c or not c["scores"]:
                out.append("—")
                continue
            mean, std = mean_and_std(c["scores"])
            text = f"{mean:.2f} ± {std:.2f}"
            if row != "plain" and base and base["seeds"] == c["seeds"]:
                text += f" ({mean_and_std([a - b for a, b in zip(c['scores'], base['scores'])])[0]:+.2f})"
            out.append(text)
            seconds += sum(c["seconds"])
            for seed, p in zip(c["seeds"], c["pretrain"]):  # pretraining: once per (dataset, seed)
                pre[(d, seed)] = p
        total = seconds + sum(pre.values())
        out.append(f"{total / 60:,.1f} min" if total else "—")
        rows.append(out)
    return markdown_table(header, rows, "l" + "r" * (len(header) - 1))


# --- main ----------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = new_parser(__doc__, argparse.RawDescriptionHelpFormatter)
    add_data_dir(p, "folder holding conll2003/, sst2/ and reuters21578/")
    p.add_argument("--datasets", default="conll2003,sst2")
    p.add_argument("--fractions", default="0.01,0.05,0.2,1.0", help="CoNLL-2003 train fractions")
    p.add_argument("--sst2-fractions", default="0.01,0.05", help="SST-2 train fractions labeled")
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {','.join(ROWS)}")
    add_seeds(p, "1,2,3")
    p.add_argument("--model", default=None, help="backbone (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--reuters-docs", type=int, default=None, help="use the first N Reuters article bodies")
    p.add_argument("--max-dev", type=int, default=None, help="score on a fixed subset of N dev examples")
    p.add_argument("--head-steps", type=int, default=300, help="at most N steps warming the MLM head up")
    p.add_argument("--dapt-steps", type=int, default=1000, help="DAPT: at most N steps (train.steps_cap)")
    p.add_argument("--tapt-steps", type=int, default=500, help="TAPT: 10 epochs, at most N steps")
    p.add_argument("--ft-epochs", type=float, default=3.0)
    p.add_argument("--min-steps", type=int, default=300, help="every fine-tuning trains at least N steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--eval-steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=1, help="self-training rounds")
    p.add_argument("--max-unlabeled", type=int, default=20000, help="self-training labels at most N units")
    p.add_argument("--threshold", type=float, default=0.9, help="self-training's confidence threshold")
    p.add_argument(
        "--shared-pretraining",
        action="store_true",
        help="pretrain once (with the first seed) for every seed, not once per seed: saves most of the "
        "time; the spread over seeds then leaves out pretraining's",
    )
    p.add_argument("--smoke", action="store_true", help="a few steps of everything (checks the script)")
    p.add_argument("--output", type=Path, help="where the pipelines go (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--dry-run", action="store_true", help="write the pipelines and print their plans")
    add_threads(p)
    add_json(p)
    args = p.parse_args(argv)
    args.datasets = parse_list(args.datasets, DATASETS, "--datasets", p)
    files = {
        "conll2003": ["conll2003/train.txt", "conll2003/dev.txt", "reuters21578/reut2-000.sgm"],
        "sst2": ["sst2/train.tsv", "sst2/dev.tsv"],
    }
    require(p, args.data_dir, [f for d in args.datasets for f in files[d]])
    args.rows = parse_list(args.rows, ROWS, "--rows", p)
    args.fractions = [float(x) for x in args.fractions.split(",") if x.strip()]
    args.sst2_fractions = [float(x) for x in args.sst2_fractions.split(",") if x.strip()]
    args.ft_max_steps = args.pretrain_max_steps = None
    if args.smoke:
        args.ft_max_steps, args.pretrain_max_steps, args.head_steps = 4, 4, 4
        args.max_dev, args.max_unlabeled, args.threshold = (
            args.max_dev or 64,
            min(args.max_unlabeled, 64),
            0.1,
        )
        args.reuters_docs = args.reuters_docs or 100
    return args


def run_one(args: argparse.Namespace, dataset: str, out: Path) -> tuple[Path, str | None]:
    from rawtune.pipeline.runner import Pipeline, format_plan
    from rawtune.pipeline.spec import validate_pipeline

    root = out / dataset
    data = write_data(args, dataset, out / "data" / dataset)
    spec = pipeline_spec(args, dataset, data, root)
    root.mkdir(parents=True, exist_ok=True)
    file = out / f"{dataset}.yaml"
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    pipe = Pipeline(validate_pipeline(spec, str(file), {}), str(file))
    if args.dry_run:
        print(format_plan(pipe, pipe.plan()))
        return root, None
    t0 = time.perf_counter()
    try:
        pipe.run(serve=False, progress=False)
    except Exception as e:  # a stage that fails leaves the other dataset to measure, and a table
        log(traceback.format_exc())
        return root, f"{type(e).__name__}: {e}"
    finally:
        log(f"{dataset}: {time.perf_counter() - t0:,.0f} s")
    return root, None


def main(argv=None) -> None:
    args = parse_args(argv)
    command, info = begin(__file__, argv, args.threads, show_machine=True)
    from rawtune.logs import setup_logging

    setup_logging()
    import tempfile

    out = args.output or Path(tempfile.mkdtemp(prefix="rawtune-raw-text-gain-"))
    out.mkdir(parents=True, exist_ok=True)
    log(f"pipelines in {out}")
    outputs, failed = {}, {}
    t0 = time.perf_counter()
    for dataset in args.datasets:
        root, err = run_one(args, dataset, out)
        outputs[dataset] = root
        if err:
            failed[dataset] = err
    if args.dry_run:
        return
    cells = collect(args, outputs)
    print(
        f"\nDev metric ×100, mean ± std over seeds {','.join(map(str, args.seeds))} (in brackets: the mean "
        "gain over plain fine-tuning of the same seeds); wall time: the row's own stages, every cell and "
        f"seed, and its pretraining once per {'run' if args.shared_pretraining else 'seed'}. "
        f"Total {(time.perf_counter() - t0) / 60:,.1f} min.\n"
    )
    print(table(args, cells))
    for k, v in failed.items():
        print(f"\nfailed {k}: {v.splitlines()[0]}")
    write_payload(
        args.json,
        command,
        info,
        args=json_args(args),
        cells=cells,
        failed=failed,
        pipelines={d: str(r) for d, r in outputs.items()},
    )
    if not args.output and not args.keep:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    elif not args.output:
        log(f"kept {out}")


if __name__ == "__main__":
    main()
