#!/usr/bin/env python
"""Benchmark: every speed ratio of rawtune against the Hugging Face recipes in one table, on this machine.

One command runs the three benchmarks below, each with the peer at its best documented settings and
both sides timed by the wall clock, A/B runs interleaved (ABAB..., --repeat pairs, medians and spread),
and prints one table of what each side reached, the ratio, the target and the quality beside it:

  MLM pretraining   pretrain_vs_hf.py: batch 32 x 128-token blocks of CoNLL-2003 train text, --mlm-steps
                    steps after --warmup-steps; HF Trainer (run_mlm.py recipe) with fused AdamW and bf16
                    where this machine runs bf16 faster (rawtune's measured choice), against `rawtune
                    pretrain` with its default precision (auto); tokens/s after the warm-up, and the shared
                    validation MLM loss of both final models.
  NER fine-tuning   ner_quality.py rows hf3 and default on the first --ner-train-sentences CoNLL-2003 train
                    sentences: run_ner.py's recipe with group_by_length, fused AdamW and bf16 where faster,
                    against `rawtune finetune` with no flags; sentences x epochs / training wall time, and the
                    dev entity F1 (strict) of both.
  Prediction        predict_vs_pipeline.py on the CoNLL-2003 dev sentences with --ner-run (a finished rawtune
                    NER run): the whole `rawtune predict` command (start-up, load, prediction; defaults, and
                    `--backend onnx-int8`) against the fastest `pipeline("token-classification")` row (model
                    already loaded and warmed up; batch 1 and 32, bf16 too where faster); entity F1 vs gold.

    python benchmarks/speed_table.py --ner-run RUN --threads 2 --repeat 3 --json speed.json
    python benchmarks/speed_table.py --ner-run RUN --only predict --repeat 1       # one part
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import (
    add_data_dir,
    add_json,
    add_threads,
    begin,
    fmt,
    log,
    machine_line,
    markdown_table,
    median,
    new_parser,
    spread,
    write_payload,
)

HERE = Path(__file__).resolve().parent
PARTS = ("mlm", "ner", "predict")
TARGETS = {"mlm": 2.5, "ner": 2.0, "predict": 6.0, "predict-int8": 10.0}


def _bf16_faster() -> bool:
    from rawtune.modeling.precision import resolve

    return resolve("auto").precision == "bf16"


def _script(name: str, argv: list[str], out: Path, threads: int | None) -> dict | None:
    """Run benchmarks/NAME.py with ARGV and --json OUT; its payload, or None (its output is in OUT.log)."""
    cmd = [sys.executable, str(HERE / f"{name}.py"), *argv, "--json", str(out)]
    cmd += ["--threads", str(threads)] if threads else []
    log(f"$ {' '.join(cmd)}")
    with out.with_suffix(".log").open("w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not out.exists():
        log(f"  {name} failed (exit {rc}); see {out.with_suffix('.log')}")
        return None
    return json.loads(out.read_text())


def _dev(args) -> list[str]:
    return ["--dev-sentences", str(args.dev_sentences)] if args.dev_sentences else []


def _span(values: list) -> str:
    s = spread(values)
    return f" ({fmt(s[0], ',.0f')}–{fmt(s[1], ',.0f')})" if s and len(values) > 1 else ""


def mlm(args, tmp: Path, precision: str) -> list[list[str]]:
    argv = ["--steps", str(args.mlm_steps), "--warmup-steps", str(args.warmup_steps), "--repeat", str(args.repeat),
            "--hf-precisions", precision, "--rawtune-precisions", "auto", "--data-dir", str(args.data_dir)]  # fmt: skip
    res = _script("pretrain_vs_hf", argv, tmp / "mlm.json", args.threads)
    rows = {r["recipe"]: r for r in (res or {}).get("results", [])}
    hf, rt = rows.get("hf"), rows.get("rawtune")
    if not hf or not rt:
        return [["MLM pretraining, tokens/s", "failed", "", "", f"≥ {TARGETS['mlm']}x", ""]]
    ratio = rt["tokens_per_s"] / hf["tokens_per_s"]
    quality = f"val MLM loss HF {fmt(hf.get('val_loss'), '.3f')} · rawtune {fmt(rt.get('val_loss'), '.3f')}"
    return [["MLM pretraining, tokens/s", f"{hf['tokens_per_s']:,.0f}{_span(hf['tokens_per_s_runs'])} ({precision}, "
             "fused AdamW)", f"{rt['tokens_per_s']:,.0f}{_span(rt['tokens_per_s_runs'])} (defaults)",
             f"{ratio:.2f}x", f"≥ {TARGETS['mlm']}x", quality]]  # fmt: skip


def ner(args, tmp: Path, precision: str) -> list[list[str]]:
    argv = ["--rows", "hf3,default", "--train-sentences", str(args.ner_train_sentences), "--seeds", "1",
            "--repeat", str(args.repeat), "--no-shared-eval", "--data-dir", str(args.data_dir), *_dev(args)]  # fmt: skip
    res = _script("ner_quality", argv, tmp / "ner.json", args.threads)
    rows = {r["key"]: r for r in (res or {}).get("results", [])}
    hf, rt = rows.get("hf3"), rows.get("default")
    if not hf or not rt:
        return [["NER fine-tuning, sentences/s", "failed", "", "", f"≥ {TARGETS['ner']}x", ""]]
    hf_sps = [r.get("sentences_per_s") for r in hf["runs"]]
    hf_v = median(hf_sps)
    rt_v = rt["sentences_per_s"]
    f1 = f"dev F1 HF {fmt(hf['f1'][0] if hf['f1'] else None, '.4f')} · rawtune {fmt(rt['f1'][0] if rt['f1'] else None, '.4f')}"
    return [["NER fine-tuning, sentences/s", f"{hf_v:,.1f}{_span(hf_sps)} (group_by_length, fused AdamW, {precision})",
             f"{rt_v:,.1f}{_span(rt['sentences_per_s_runs'])} (defaults)", f"{rt_v / hf_v:.2f}x",
             f"≥ {TARGETS['ner']}x", f1]]  # fmt: skip


def predict(args, tmp: Path, bf16: bool) -> list[list[str]]:
    argv = ["--run", str(args.ner_run), "--rows", "rawtune,rawtune-bf16,cli,cli-int8,pipeline", "--pipeline-batch-sizes", "1,32",
            "--repeats", str(args.repeat), "--data-dir", str(args.data_dir), *(["--pipeline-bf16"] if bf16 else []), *_dev(args)]  # fmt: skip
    res = _script("predict_vs_pipeline", argv, tmp / "predict.json", args.threads)
    rows = {r["row"]: r for r in (res or {}).get("rows", [])}
    pipes = [r for name, r in rows.items() if name.startswith("pipeline")]
    if not pipes or "rawtune" not in rows:
        return [["`rawtune predict`, sentences/s", "failed", "", "", f"≥ {TARGETS['predict']}x", ""]]
    best = max(pipes, key=lambda r: r["sentences_per_s"])
    ref_f1 = rows["rawtune"]["f1"]
    out = []
    for name, target, label in (
        ("rawtune CLI", "predict", "defaults"),
        ("rawtune CLI int8", "predict-int8", "onnx-int8"),
    ):
        r = rows.get(name)
        if r is None:
            out.append(
                [f"`rawtune predict` ({label}), sentences/s", "failed", "", "", f"≥ {TARGETS[target]}x", ""]
            )
            continue
        ratio = r["sentences_per_s"] / best["sentences_per_s"]
        change = 100 * (r["f1"] - ref_f1)
        out.append([f"`rawtune predict` whole command ({label}), sentences/s",
                    f"{best['sentences_per_s']:,.1f} (`pipeline()` {best['settings']}, loaded)",
                    f"{r['sentences_per_s']:,.1f} ({len(r['secs'])} runs)", f"{ratio:.2f}x", f"≥ {TARGETS[target]}x",
                    f"entity F1 {r['f1']:.4f} ({change:+.2f} pts vs the fp32 model; pipeline {best['f1']:.4f})"])  # fmt: skip
    steady = rows.get("rawtune bf16") if bf16 else rows.get("rawtune")
    same = next(
        (r for r in pipes if r["settings"].endswith("bf16" if bf16 else "fp32") and "32" in r["settings"]),
        None,
    )
    if steady and same:
        out.append([f"prediction steady state ({'bf16' if bf16 else 'fp32'}, model loaded), sentences/s",
                    f"{same['sentences_per_s']:,.1f} (`pipeline()` {same['settings']})",
                    f"{steady['sentences_per_s']:,.1f} (`Predictor.predict_file`, batch 32)",
                    f"{steady['sentences_per_s'] / same['sentences_per_s']:.2f}x", "> 1x",
                    f"entity F1 {steady['f1']:.4f}"])  # fmt: skip
    return out


def parser():
    p = new_parser(__doc__)
    p.add_argument(
        "--ner-run", type=Path, help="a finished rawtune NER run on CoNLL-2003 (the prediction rows)"
    )
    p.add_argument("--only", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    p.add_argument("--repeat", type=int, default=3, help="interleaved runs per side; medians and spread")
    p.add_argument("--mlm-steps", type=int, default=30)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--ner-train-sentences", type=int, default=1000)
    p.add_argument("--dev-sentences", type=int, default=None, help="the first N dev sentences (smoke runs)")
    add_data_dir(p, "folder holding conll2003/")
    add_threads(p)
    add_json(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.only.split(",") if x.strip()]
    if any(x not in PARTS for x in parts):
        p.error(f"--only: any of {','.join(PARTS)}")
    if "predict" in parts and not args.ner_run:
        p.error("--ner-run RUN is needed for the prediction rows")
    command, info = begin(__file__, argv, args.threads)
    bf16 = _bf16_faster()
    precision = "bf16" if bf16 else "fp32"
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="rawtune-speed-table-") as name:
        tmp = Path(name)
        if "mlm" in parts:
            rows += mlm(args, tmp, precision)
        if "ner" in parts:
            rows += ner(args, tmp, precision)
        if "predict" in parts:
            rows += predict(args, tmp, bf16)
        payloads = {f.stem: json.loads(f.read_text()) for f in tmp.glob("*.json")}
    header = ["work", "Hugging Face, best settings", "rawtune", "ratio", "target", "quality"]
    table = markdown_table(header, rows, "lllrll")
    print(f"command: {command}")
    print(machine_line(info))
    print(f"peer precision: {precision} (bf16 where this machine runs it faster); repeats: {args.repeat}\n")
    print(table)
    write_payload(args.json, command, info, table=table, rows=rows, parts=payloads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
