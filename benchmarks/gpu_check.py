#!/usr/bin/env python
"""The Python side of benchmarks/gpu_check.sh (run that; this only holds its helpers).

Subcommands:
  prepare OUT --mode gpu|cpu [--data DIR]   write the check's data under OUT/data (shared benchmark data
                                            when DIR has it, else the bundled synthetic sample) and
                                            OUT/data/files.json
  same-run A B                              two finished runs alike bit for bit: the seed-determined
                                            records of metrics.jsonl and every final safetensors tensor
                                            (tests/reliability/harness.py's records / same_weights)
  same-tags A.jsonl B.jsonl --min-agree F   two NER prediction files: the share of equal word tags >= F
  serve-request PORT NAME TEXT              wait for /readyz, POST one text to /v1/models/NAME/predict
  speed OUT --device cpu|cuda ...           rawtune vs the Hugging Face Trainer recipe, MLM tokens/s and
                                            NER sentences/s, interleaved A/B, written to OUT/speed.json
  table OUT                                 OUT/table.md from OUT/steps.tsv and OUT/speed.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

# dense bf16 tensor-core peak, TFLOP/s (vendor figures, SXM parts); matched by substring of the device name
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


# --- prepare ---------------------------------------------------------------------------------------
SIZES = {  # mode: (NER train, NER dev, classification train, classification dev, prediction lines, raw lines)
    "gpu": (4000, 500, 4000, 500, 1000, 20000),
    "cpu": (160, 40, 160, 40, 60, 1500),
}


def prepare(out: Path, mode: str, data: Path | None) -> dict:
    from corpora import read_conll, read_sst2, sentence_texts, write_conll, write_csv

    n_ner, n_ner_dev, n_cls, n_cls_dev, n_pred, n_raw = SIZES[mode]
    d = out / "data"
    (d / "conll2003").mkdir(parents=True, exist_ok=True)
    conll = data / "conll2003" if data else None
    sst2 = data / "sst2" if data else None
    if conll and (conll / "train.txt").exists() and (conll / "dev.txt").exists():
        train, dev = read_conll(conll / "train.txt"), read_conll(conll / "dev.txt")
        source = f"CoNLL-2003 from {conll}"
    else:
        from rawtune.samples.synthetic_ner import write

        paths = write(d / "synthetic", {"train": max(n_ner, 240), "dev": max(n_ner_dev, 80)}, unlabeled=0)
        train, dev = read_conll(paths["train"]), read_conll(paths["dev"])
        source = "the bundled synthetic NER sample (rawtune.samples.synthetic_ner)"
    raw = sentence_texts(train)
    if conll is None or not (conll / "train.txt").exists():  # more raw text: the bundled Austen chapters
        raw += [
            p.strip() for p in (ROOT / "src/rawtune/samples/persuasion-ch1-3.txt").read_text().split("\n\n")
        ]
    files = {"source": source, "mode": mode}
    raw = [x for x in raw if x][:n_raw]
    (d / "raw.txt").write_text("\n".join(raw) + "\n", encoding="utf-8")
    # held-out raw text for the MLM speed runs' validation (never the training lines: rawtune drops
    # training documents that are also validation documents)
    seen = set(raw)
    raw_dev = [x for x in sentence_texts(dev) if x not in seen][:2000]
    (d / "raw_dev.txt").write_text("\n".join(raw_dev) + "\n", encoding="utf-8")
    files.update(raw=str(d / "raw.txt"), raw_dev=str(d / "raw_dev.txt"))
    write_conll(train[:n_ner], d / "ner_train.conll")
    write_conll(dev[:n_ner_dev], d / "ner_dev.conll")
    files.update(ner_train=str(d / "ner_train.conll"), ner_dev=str(d / "ner_dev.conll"))
    # the HF speed workers read conll2003/{train,dev}.txt as the benchmarks do
    write_conll(train[:n_ner], d / "conll2003" / "train.txt")
    write_conll(dev[:n_ner_dev], d / "conll2003" / "dev.txt")
    files["ner_sentences"] = min(n_ner, len(train))
    pred = sentence_texts(dev[n_ner_dev : n_ner_dev + n_pred]) or sentence_texts(dev[:n_pred])
    (d / "predict.txt").write_text("\n".join(pred) + "\n", encoding="utf-8")
    files["predict"] = str(d / "predict.txt")
    if sst2 and (sst2 / "train.tsv").exists() and (sst2 / "dev.tsv").exists():
        cls_train, cls_dev = read_sst2(sst2 / "train.tsv")[:n_cls], read_sst2(sst2 / "dev.tsv")[:n_cls_dev]
        files["cls_source"] = f"SST-2 from {sst2}"
    else:  # a learnable task from the NER sample: the type of a sentence's first entity
        rows = [(" ".join(c[0] for c in s), _first_type(s)) for s in train + dev]
        rows = [r for r in rows if r[1]]
        random.Random(0).shuffle(rows)
        cls_train, cls_dev = rows[:n_cls], rows[n_cls : n_cls + n_cls_dev]
        files["cls_source"] = "first entity type of the NER sentences"
    write_csv(cls_train, d / "cls_train.csv")
    write_csv(cls_dev, d / "cls_dev.csv")
    files.update(cls_train=str(d / "cls_train.csv"), cls_dev=str(d / "cls_dev.csv"))
    (d / "files.json").write_text(json.dumps(files, indent=1) + "\n")
    return files


def _first_type(sentence: list[list[str]]) -> str | None:
    return next((c[-1][2:] for c in sentence if c[-1].startswith("B-")), None)


# --- same-run, same-tags, serve-request --------------------------------------------------------------
def _reliability_harness():
    """tests/reliability/harness.py under its own name (benchmarks/ has a harness.py too)."""
    spec = importlib.util.spec_from_file_location(
        "reliability_harness", ROOT / "tests/reliability/harness.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def same_run(a: Path, b: Path) -> int:
    h = _reliability_harness()
    ra, rb = h.records(a), h.records(b)
    diffs = h.same_weights(a, b)
    files = [str(p) for p in h.weight_files(a)]
    if ra != rb:
        first = next((i for i, (x, y) in enumerate(zip(ra, rb)) if x != y), min(len(ra), len(rb)))
        print(f"metrics.jsonl differs at record {first}: {ra[first : first + 1]} vs {rb[first : first + 1]}")
    if diffs:
        print("weights differ: " + "; ".join(diffs[:5]))
    if ra == rb and not diffs and files:
        print(f"bit-identical: {len(ra)} metrics records, weights {files}")
        return 0
    if not files:
        print("no weight files to compare")
    return 1


def same_tags(a: Path, b: Path, min_agree: float) -> int:
    ta = [json.loads(x)["tags"] for x in a.read_text().splitlines() if x.strip()]
    tb = [json.loads(x)["tags"] for x in b.read_text().splitlines() if x.strip()]
    if len(ta) != len(tb):
        print(f"{len(ta)} vs {len(tb)} records")
        return 1
    total = sum(len(x) for x in ta)
    equal = sum(x == y for s, t in zip(ta, tb) for x, y in zip(s, t) if len(s) == len(t))
    share = equal / max(total, 1)
    print(
        f"{equal}/{total} word tags equal ({share:.4%}), {sum(s == t for s, t in zip(ta, tb))}/{len(ta)} "
        f"sentences identical; needed >= {min_agree:.2%}"
    )
    return 0 if total and share >= min_agree else 1


def serve_request(port: int, name: str, text: str, pid: int | None = None, wait_s: float = 180) -> int:
    """`pid`: the server's process; when it has exited, stop waiting at once."""
    import os

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while True:
        if pid is not None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                print(f"the server (pid {pid}) exited before it was ready")
                return 1
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            print(f"server not ready after {wait_s:.0f}s")
            return 1
        time.sleep(0.5)
    body = json.dumps({"texts": [text]}).encode()
    req = urllib.request.Request(
        f"{base}/v1/models/{name}/predict", data=body, headers={"Content-Type": "application/json"}
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.loads(r.read())
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps(answer)[:600])
    preds = answer.get("predictions") or []
    ok = answer.get("model") == name and len(preds) == 1 and "entities" in preds[0]
    print(f"one request, {ms:.0f} ms: {'ok' if ok else 'UNEXPECTED ANSWER'}")
    return 0 if ok else 1


# --- speed ---------------------------------------------------------------------------------------------
def _device_info(device: str) -> dict:
    import torch

    if device == "cuda":
        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        return {"device": name, "peak_tflops": peak, "bf16": bool(torch.cuda.is_bf16_supported())}
    return {"device": "cpu", "peak_tflops": None, "threads": torch.get_num_threads()}


def _params(model: str) -> int:
    from transformers import AutoModel

    return sum(p.numel() for p in AutoModel.from_pretrained(model).parameters())


def speed(out: Path, device: str, mlm_steps: int, warmup: int, ner_epochs: float, timeout: float) -> int:
    """One interleaved A/B pair per work item (HF first, then rawtune), same device, batch, steps and
    precision (what `train.precision auto` picks for this device)."""
    import pretrain_vs_hf as pv
    from harness import spawn_worker
    from rawtune.modeling.precision import resolve
    from recipe import BATCH_SIZE, finetune_flags, minilm, run_stage

    tmp = out / "speed"
    tmp.mkdir(parents=True, exist_ok=True)
    files = json.loads((out / "data" / "files.json").read_text())
    model = minilm()
    precision = resolve("auto", device).precision
    info = {**_device_info(device), "precision": precision, "params": _params(model)}
    use_cpu = device != "cuda"
    rawtune = [sys.executable, "-m", "rawtune"]
    script = str(Path(__file__).resolve())
    result: dict = {"info": info, "rows": []}

    # MLM: pretrain_vs_hf's HF worker and rawtune command line (batch 32 x 128 tokens, no head warm-up)
    tokens = mlm_steps * pv.BATCH_SIZE * pv.SEQ_LEN
    mlm_args = argparse.Namespace(
        steps=mlm_steps, lr=5e-5, seed=42, warmup_steps=warmup, threads=None, timeout=timeout, rawtune_args=""
    )
    common = {
        "model": model,
        "seed": 42,
        "threads": None,
        "cache_dir": str(tmp / "hf_cache"),
        "use_cpu": use_cpu,
    }
    spec = {**common, "kind": "mlm_hf", "precision": precision, "steps": mlm_steps, "lr": 5e-5,
            "warmup_steps": warmup, "train_file": files["raw"], "output_dir": str(tmp / "mlm-hf" / "trainer"),
            "model_out": str(tmp / "mlm-hf" / "model")}  # fmt: skip
    print(f"[mlm] HF Trainer, {precision}, {mlm_steps} steps x {pv.BATCH_SIZE} x {pv.SEQ_LEN}", flush=True)
    hf, _ = spawn_worker(script, spec, tmp, "mlm-hf", None, timeout)
    mlm_files = {"model": model, "train": files["raw"], "dev": files["raw_dev"]}
    print(f"[mlm] rawtune pretrain, {precision}", flush=True)
    rt = pv.run_rawtune(mlm_args, rawtune, precision, mlm_files, tmp / "mlm-rawtune", tmp / "mlm-rawtune.log")
    for recipe, res in (("HF Trainer", hf), ("rawtune", rt)):
        tps = (res or {}).get("tokens_per_s")
        mfu = None
        if tps and info["peak_tflops"]:
            mfu = 6 * info["params"] * tps / (info["peak_tflops"] * 1e12)
        result["rows"].append({"item": "MLM pretraining", "recipe": recipe, "unit": "tokens/s", "value": tps,
                               "mfu": mfu, "work": f"{mlm_steps} steps, {tokens:,} tokens, after {warmup} warm-up steps"})  # fmt: skip

    # NER: ner_hf's worker (run_ner.py recipe) and recipe.py's rawtune flags; batch 16, max 128 tokens
    n = files["ner_sentences"]
    spec = {"kind": "ner_hf", "model": model, "seed": 1, "threads": None, "train_file": files["ner_train"],
            "dev_file": files["ner_dev"], "epochs": ner_epochs, "output_dir": str(tmp / "ner-hf"),
            "use_cpu": use_cpu, "bf16": precision == "bf16"}  # fmt: skip
    print(
        f"[ner] HF Trainer, {precision}, {n} sentences x {ner_epochs} epochs, batch {BATCH_SIZE}", flush=True
    )
    hf, _ = spawn_worker(script, spec, tmp, "ner-hf", None, timeout)
    bench = argparse.Namespace(epochs=ner_epochs, threads=None, timeout=timeout, rawtune_args="")
    b = argparse.Namespace(args=bench, files={"train": files["ner_train"], "dev": files["ner_dev"]})
    flags = finetune_flags(["--task", "ner"], b, model, 1, tmp / "ner-rawtune")
    flags += ["--train.precision", precision, "--data.doc_context", "false"]
    print(f"[ner] rawtune finetune, {precision}", flush=True)
    metrics, _ = run_stage(rawtune, "finetune", flags, tmp / "ner-rawtune", None, timeout)
    secs = ((metrics or {}).get("train") or {}).get("train_seconds")
    rt_sps = n * ner_epochs / secs if secs else None
    for recipe, sps in (("HF Trainer", (hf or {}).get("sentences_per_s")), ("rawtune", rt_sps)):
        result["rows"].append({"item": "NER fine-tuning", "recipe": recipe, "unit": "sentences/s", "value": sps,
                               "mfu": None, "work": f"{n} sentences x {ner_epochs} epochs, whole training run"})  # fmt: skip
    (out / "speed.json").write_text(json.dumps(result, indent=1) + "\n")
    for item in ("MLM pretraining", "NER fine-tuning"):
        hf_v, rt_v = (
            next(r["value"] for r in result["rows"] if r["item"] == item and r["recipe"] == k)
            for k in ("HF Trainer", "rawtune")
        )
        ratio = f" ({rt_v / hf_v:.2f}x)" if hf_v and rt_v else ""
        print(
            f"{item}, {precision}: HF Trainer {hf_v or 0:,.1f}, rawtune {rt_v or 0:,.1f}{ratio}",
            end="; " if item[0] == "M" else "\n",
        )
    missing = [f"{r['item']} / {r['recipe']}" for r in result["rows"] if not r["value"]]
    if missing:
        print(f"no throughput for: {', '.join(missing)} (see {tmp}/*.log)")
        return 1
    return 0


def _worker_mlm_hf(spec: dict) -> dict:
    import pretrain_vs_hf

    return pretrain_vs_hf.worker_hf(spec)


def _worker_ner_hf(spec: dict) -> dict:
    import ner_hf

    res = ner_hf.worker_hf(spec)
    return {k: res[k] for k in ("f1", "train_seconds", "sentences_per_s", "examples", "steps")}


# --- table ---------------------------------------------------------------------------------------------
def table(out: Path) -> str:
    lines = ["| step | result | seconds | detail |", "|---|---|---:|---|"]
    for row in (out / "steps.tsv").read_text().splitlines():
        name, status, secs, detail = [*row.split("\t"), "", "", ""][:4]
        lines.append(f"| {name} | {status} | {secs} | {detail} |")
    text = "\n".join(lines) + "\n"
    sp = out / "speed.json"
    if sp.exists():
        s = json.loads(sp.read_text())
        info = s["info"]
        text += f"\nThroughput on {info['device']}, precision {info['precision']} (what `auto` picks here), "
        text += f"{info['params']:,} backbone parameters; MFU = 6 x params x tokens/s / peak"
        text += (
            f" ({info['peak_tflops']} TFLOP/s bf16 dense)\n\n" if info["peak_tflops"] else " (n/a here)\n\n"
        )
        text += "| work | recipe | throughput | vs HF | MFU | measured over |\n|---|---|---:|---:|---:|---|\n"
        hf = {r["item"]: r["value"] for r in s["rows"] if r["recipe"] == "HF Trainer"}
        for r in s["rows"]:
            v, base = r["value"], hf.get(r["item"])
            ratio = f"{v / base:.2f}x" if v and base else "—"
            mfu = f"{r['mfu']:.1%}" if r["mfu"] else "n/a"
            value = f"{v:,.1f} {r['unit']}" if v else "—"
            text += f"| {r['item']} | {r['recipe']} | {value} | {ratio} | {mfu} | {r['work']} |\n"
    (out / "table.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    if argv is None and "--_worker" in sys.argv:
        from harness import worker_main

        worker_main(
            sys.argv[sys.argv.index("--_worker") + 1], {"mlm_hf": _worker_mlm_hf, "ner_hf": _worker_ner_hf}
        )
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("prepare")
    s.add_argument("out", type=Path)
    s.add_argument("--mode", choices=list(SIZES), required=True)
    s.add_argument("--data", type=Path, default=None)
    s = sub.add_parser("same-run")
    s.add_argument("a", type=Path)
    s.add_argument("b", type=Path)
    s = sub.add_parser("same-tags")
    s.add_argument("a", type=Path)
    s.add_argument("b", type=Path)
    s.add_argument("--min-agree", type=float, default=0.99)
    s = sub.add_parser("serve-request")
    s.add_argument("port", type=int)
    s.add_argument("name")
    s.add_argument("text")
    s.add_argument("--pid", type=int, default=None, help="the server's process id")
    s = sub.add_parser("speed")
    s.add_argument("out", type=Path)
    s.add_argument("--device", choices=["cpu", "cuda"], required=True)
    s.add_argument("--mlm-steps", type=int, default=100)
    s.add_argument("--warmup-steps", type=int, default=10)
    s.add_argument("--ner-epochs", type=float, default=1.0)
    s.add_argument("--timeout", type=float, default=600)
    s = sub.add_parser("table")
    s.add_argument("out", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "prepare":
        files = prepare(a.out, a.mode, a.data)
        print(json.dumps(files, indent=1))
        print(f"NER: {files['source']}; classification: {files['cls_source']}")
        return 0
    if a.cmd == "same-run":
        return same_run(a.a, a.b)
    if a.cmd == "same-tags":
        return same_tags(a.a, a.b, a.min_agree)
    if a.cmd == "serve-request":
        return serve_request(a.port, a.name, a.text, a.pid)
    if a.cmd == "speed":
        return speed(a.out, a.device, a.mlm_steps, a.warmup_steps, a.ner_epochs, a.timeout)
    print(table(a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
