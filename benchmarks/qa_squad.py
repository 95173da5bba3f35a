#!/usr/bin/env python
"""Benchmark: extractive QA fine-tuning, `rawtune finetune --task qa` vs the Hugging Face Trainer recipe
(transformers' examples/pytorch/question-answering/run_qa.py), on SQuAD v1.1.

Data: only the SQuAD v1.1 dev set is available (shared/data/squad_v1.1/dev-v1.1.json, 48 articles, 10,570
questions), so it is split BY ARTICLE (seeded, --data-seed): whole articles go to the evaluation part until it
holds --eval-questions questions (a seeded sample of those articles' questions), and --train-questions are sampled
from the other articles. No context is in both parts. The two parts are written once as SQuAD JSON to a temp dir
and read by both sides.

Same machine, same run, same backbone (packaged all-MiniLM-L6-v2), same budget: --epochs, batch 16, lr --lr,
linear schedule with 10 % warm-up, weight decay 0.01, windows of --max-length tokens with --stride overlap,
the final model.

Rows (--rows):
  hf       run_qa.py's recipe in a subprocess: `prepare_train_features` (question.lstrip(), truncation only_second,
           stride, overflowing tokens, offsets -> start/end positions, CLS when the answer is not in the window),
           AutoModelForQuestionAnswering, Trainer; padding to max length (run_qa's default pad_to_max_length) or
           dynamic (--hf-padding dynamic, DataCollatorWithPadding).
  rawtune  `rawtune finetune --task qa ...` (dynamic padding, length-grouped batches).

EM / F1: every final model is scored by the same post-processing (rawtune's qa task: n-best 20, max answer 30
tokens, over all windows of a question; official SQuAD normalisation), so the columns compare training only.
train windows/s = training windows x epochs / training seconds (HF: Trainer train_runtime; rawtune: metrics.json
train.train_seconds).

Usage (the rawtune CLI of this checkout: --rawtune-cmd "python -m rawtune" with PYTHONPATH=src):
    PYTHONPATH=src python benchmarks/qa_squad.py --rawtune-cmd "python -m rawtune" \
        --train-questions 1500 --eval-questions 500 --epochs 1 --threads 2
    ... --train-questions 64 --eval-questions 32 --max-length 128 --stride 32   # smoke test
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from harness import (
    add_data_dir,
    add_outputs,
    add_threads,
    begin,
    fmt,
    log,
    machine_line,
    markdown_table,
    new_parser,
    parse,
    parse_list,
    ratio,
    workdir,
    write_payload,
)
from recipe import (
    BATCH_SIZE,
    WARMUP_RATIO,
    WEIGHT_DECAY,
    Bench,
    add_rawtune_flags,
    finetune,
    finetune_flags,
    hf_row,
    rawtune_ready,
    shared_eval,
    trainer_args,
)

ROWS = ("hf", "rawtune")


# --- data ------------------------------------------------------------------------------------------------------
def split_by_article(path: Path, n_train: int, n_eval: int, seed: int) -> tuple[dict, dict, dict]:
    """(train SQuAD JSON, eval SQuAD JSON, info): whole articles on either side, seeded samples of questions."""
    squad = json.loads(path.read_text(encoding="utf-8"))
    articles = list(squad["data"])
    rng = random.Random(seed)
    rng.shuffle(articles)
    held, rest, count = [], [], 0
    for art in articles:
        n = sum(len(p["qas"]) for p in art["paragraphs"])
        (held if count < n_eval else rest).append(art)
        count += n if count < n_eval else 0
    train = _sample(rest, n_train, rng)
    dev = _sample(held, n_eval, rng)
    info = {
        "source": f"{path.name} ({sum(len(p['qas']) for a in articles for p in a['paragraphs']):,} questions, "
        f"{len(articles)} articles) split by article, data seed {seed}",
        "train_questions": _count(train),
        "eval_questions": _count(dev),
        "train_articles": len(train["data"]),
        "eval_articles": len(dev["data"]),
    }
    return train, dev, info


def _sample(articles: list[dict], k: int, rng: random.Random) -> dict:
    """Articles keeping a seeded sample of k of their questions (file order kept)."""
    ids = [
        (a, p, q)
        for a, art in enumerate(articles)
        for p, para in enumerate(art["paragraphs"])
        for q in range(len(para["qas"]))
    ]
    keep = set(rng.sample(ids, min(k, len(ids))))
    data = []
    for a, art in enumerate(articles):
        paras = []
        for p, para in enumerate(art["paragraphs"]):
            qas = [qa for q, qa in enumerate(para["qas"]) if (a, p, q) in keep]
            if qas:
                paras.append({"context": para["context"], "qas": qas})
        if paras:
            data.append({"title": art["title"], "paragraphs": paras})
    return {"version": "1.1", "data": data}


def _count(squad: dict) -> int:
    return sum(len(p["qas"]) for a in squad["data"] for p in a["paragraphs"])


def flatten(squad: dict) -> list[dict]:
    """HF datasets' squad rows: id, question, context, answers {text, answer_start}."""
    rows = []
    for art in squad["data"]:
        for para in art["paragraphs"]:
            for qa in para["qas"]:
                answers = {
                    "text": [a["text"] for a in qa["answers"]],
                    "answer_start": [a["answer_start"] for a in qa["answers"]],
                }
                rows.append(
                    {
                        "id": qa["id"],
                        "question": qa["question"],
                        "context": para["context"],
                        "answers": answers,
                    }
                )
    return rows


# --- workers (`python qa_squad.py --_worker SPEC.json`) --------------------------------------------------------
def prepare_train_features(tokenizer, examples: dict, max_length: int, stride: int, padding) -> dict:
    """run_qa.py's function, as it is there."""
    examples["question"] = [q.lstrip() for q in examples["question"]]
    tok = tokenizer(
        examples["question"],
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=padding,
    )
    sample_mapping = tok.pop("overflow_to_sample_mapping")
    offset_mapping = tok.pop("offset_mapping")
    tok["start_positions"], tok["end_positions"] = [], []
    for i, offsets in enumerate(offset_mapping):
        input_ids = tok["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        sequence_ids = tok.sequence_ids(i)
        answers = examples["answers"][sample_mapping[i]]
        if len(answers["answer_start"]) == 0:
            tok["start_positions"].append(cls_index)
            tok["end_positions"].append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        token_start_index = 0
        while sequence_ids[token_start_index] != 1:
            token_start_index += 1
        token_end_index = len(input_ids) - 1
        while sequence_ids[token_end_index] != 1:
            token_end_index -= 1
        if not (offsets[token_start_index][0] <= start_char and offsets[token_end_index][1] >= end_char):
            tok["start_positions"].append(cls_index)
            tok["end_positions"].append(cls_index)
        else:
            while token_start_index < len(offsets) and offsets[token_start_index][0] <= start_char:
                token_start_index += 1
            tok["start_positions"].append(token_start_index - 1)
            while offsets[token_end_index][1] >= end_char:
                token_end_index -= 1
            tok["end_positions"].append(token_end_index + 1)
    return tok


def worker_hf(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        default_data_collator,
        set_seed,
    )

    t_start = time.perf_counter()
    set_seed(spec["seed"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    raw = Dataset.from_list(flatten(json.loads(Path(spec["train_file"]).read_text())))
    padding = "max_length" if spec["hf_padding"] == "max_length" else False
    train_ds = raw.map(
        lambda ex: prepare_train_features(tokenizer, ex, spec["max_length"], spec["stride"], padding),
        batched=True,
        remove_columns=raw.column_names,
    )
    model = AutoModelForQuestionAnswering.from_pretrained(spec["model"])
    collator = default_data_collator if padding else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(
        model=model,
        args=trainer_args(spec, spec["lr"]),
        train_dataset=train_ds,
        data_collator=collator,
        processing_class=tokenizer,
    )
    result = trainer.train()
    runtime = float(result.metrics["train_runtime"])
    trainer.save_model(spec["model_dir"])
    tokenizer.save_pretrained(spec["model_dir"])
    return {
        "train_seconds": runtime,
        "windows_per_s": len(train_ds) * spec["epochs"] / runtime,
        "windows": len(train_ds),
        "steps": trainer.state.global_step,
        "final_train_loss": result.metrics.get("train_loss"),
        "worker_seconds": time.perf_counter() - t_start,
        "threads": torch.get_num_threads(),
        "model_dir": spec["model_dir"],
    }


def worker_eval(spec: dict) -> dict:
    """Every model through rawtune's qa decode and the official metrics (the shared post-processing)."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from rawtune.config.schema import FinetuneConfig
    from rawtune.tasks.base import Inference
    from rawtune.tasks.qa import QuestionAnsweringTask

    cfg = FinetuneConfig(
        task={"name": "qa"}, data={"max_length": spec["max_length"], "stride": spec["stride"]}
    )
    task = QuestionAnsweringTask(cfg)
    data = task.read(spec["eval_file"])
    results = {}
    for name, path in spec["models"].items():
        try:
            t0 = time.perf_counter()
            model = AutoModelForQuestionAnswering.from_pretrained(path).eval()
            m = task.evaluate(
                model, AutoTokenizer.from_pretrained(path), data, None, Inference(batch_size=32)
            )
            results[name] = {**m, "eval_seconds": time.perf_counter() - t0}
        except Exception as exc:  # one bad model dir must not lose the others' scores
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


# --- parent ----------------------------------------------------------------------------------------------------
def run_rawtune(b: Bench) -> dict | None:
    args, out = b.args, b.tmp / "rawtune"
    stride = ["--data.stride", str(args.stride)]
    flags = finetune_flags(["--task", "qa"], b, b.model, args.seed, out, args.lr, args.max_length, stride)
    done = finetune(b, flags, out)
    if done is None:
        return None
    dev, train, wall = done
    secs = train.get("train_seconds")
    return {
        "own_exact_match": dev.get("exact_match"),
        "own_f1": dev.get("f1"),
        "train_seconds": secs,
        "windows": train.get("features"),
        "windows_per_s": train["features"] * args.epochs / secs if secs else None,
        "steps": train.get("steps"),
        "wall_s": wall,
        "model_dir": str(out / "model"),
    }


def render(results: dict, data: dict, info: dict, args, command: str) -> str:
    hf_speed = (results.get("hf") or {}).get("windows_per_s")
    header = ["row", "EM", "F1", "train windows", "train windows/s", "vs hf", "train s", "wall s"]
    rows = [
        [row, fmt(r.get("exact_match"), ".2f"), fmt(r.get("f1"), ".2f"), fmt(r.get("windows"), ",d"),
         fmt(r.get("windows_per_s")), ratio(r.get("windows_per_s"), hf_speed), fmt(r.get("train_seconds")),
         fmt(r.get("wall_s"), ".0f")]
        for row, r in results.items()
    ]  # fmt: skip
    out = [
        f"command: {command}",
        f"extractive QA fine-tuning, all-MiniLM-L6-v2, {data['source']}: {data['train_questions']:,} train "
        f"questions ({data['train_articles']} articles) -> {data['eval_questions']:,} eval questions "
        f"({data['eval_articles']} other articles), {args.epochs:g} epoch(s), batch {BATCH_SIZE}, lr {args.lr}, "
        f"warm-up {WARMUP_RATIO}, weight decay {WEIGHT_DECAY}, windows {args.max_length}/stride {args.stride}, "
        f"final model, seed {args.seed}; hf padding: {args.hf_padding}",
        machine_line(info),
        "",
        markdown_table(header, rows, "lrrrrrrr"),
        "",
        "EM / F1 (0-100): every final model through the same post-processing (rawtune's qa decode, official SQuAD "
        "normalisation). wall s = the whole training subprocess (load, tokenise, train, save; rawtune also evaluates).",
    ]
    if "rawtune" in results and results["rawtune"].get("own_f1") is not None:
        r = results["rawtune"]
        out.append(f"rawtune's own metrics.json: EM {r['own_exact_match']:.2f}, F1 {r['own_f1']:.2f}.")
    return "\n".join(out)


def run_rows(b: Bench, rows: list[str]) -> dict[str, dict]:
    """The rows, then every final model through the same post-processing."""
    args, results = b.args, {}
    if "hf" in rows:
        log("[hf] run_qa.py recipe ...")
        spec = {"model": b.model, "seed": args.seed, "epochs": args.epochs, "lr": args.lr,
                "max_length": args.max_length, "stride": args.stride, "hf_padding": args.hf_padding,
                "train_file": b.files["train"], "output_dir": str(b.tmp / "hf-trainer"),
                "model_dir": str(b.tmp / "hf-model")}  # fmt: skip
        if (res := hf_row(b, spec)) is not None:
            results["hf"] = res
    if "rawtune" in rows and rawtune_ready(b):
        log("[rawtune] rawtune finetune --task qa ...")
        if (res := run_rawtune(b)) is not None:
            results["rawtune"] = res
    models = {row: r["model_dir"] for row, r in results.items()}
    if models:
        spec = {
            "eval_file": b.files["dev"],
            "models": models,
            "max_length": args.max_length,
            "stride": args.stride,
        }
        for row, s in shared_eval(b.script, spec, b.tmp, args.threads, args.timeout).items():
            if "error" not in s:
                results[row].update(exact_match=s["exact_match"], f1=s["f1"], eval_seconds=s["eval_seconds"])
    return results


def parser():
    p = new_parser(__doc__.split("\n\n")[0], worker=True)
    add_data_dir(p, "folder holding squad_v1.1/")
    p.add_argument("--train-questions", type=int, default=1500)
    p.add_argument("--eval-questions", type=int, default=500)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--hf-padding", choices=["max_length", "dynamic"], default="max_length")
    p.add_argument("--rows", default="hf,rawtune")
    add_threads(p)
    add_rawtune_flags(p, 3600, "extra flags for rawtune finetune")
    add_outputs(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = parse(p, argv, {"hf": worker_hf, "eval": worker_eval})
    rows = parse_list(args.rows, ROWS, "--rows", p)
    squad = args.data_dir / "squad_v1.1" / "dev-v1.1.json"
    if not squad.exists():
        p.error(f"missing {squad} (pass --data-dir)")
    command, info = begin(__file__, argv, args.threads)
    with workdir("rawtune-qa-bench-", args.keep_tmp) as tmp:
        train, dev, data = split_by_article(squad, args.train_questions, args.eval_questions, args.data_seed)
        files = {"train": str(tmp / "train.json"), "dev": str(tmp / "eval.json")}
        Path(files["train"]).write_text(json.dumps(train))
        Path(files["dev"]).write_text(json.dumps(dev))
        log(f"data: {data}")
        results = run_rows(Bench(args, files, tmp, __file__), rows)
    table = render(results, data, info, args, command)
    print(table)
    write_payload(args.json, command, info, data=data, results=results, table=table)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
