"""Data-parallel training through Accelerate, two CPU processes (gloo): the micro-batches of a step
are shared out across processes, so `accelerate launch --num_processes 2` with batch b trains exactly
what one process does with batch b and grad_accum 2 (same losses to float rounding, same weights);
killing one rank stops the launch and --resume continues to the uninterrupted run's weights; a run
resumed with another number of processes continues at the same data position."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow
# on a machine without GPUs, --multi_gpu starts torchrun's processes and Accelerate runs them on the
# CPU with gloo; accelerate 1.16's `--cpu --num_processes 2` starts a single process
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1"]
LAUNCH += ["--mixed_precision", "no", "--dynamo_backend", "no", "--num_processes"]


def _opts(tiny_args, **extra) -> dict:
    # no dropout: the processes draw their own dropout masks (seeded by rank), one process draws others
    return tiny_args(
        **{
            "train.max_steps": 16,
            "train.batch_size": 4,
            "train.eval_steps": 8,
            "train.save_steps": 4,
            "model.dropout": 0.0,
            "model.attention_dropout": 0.0,
            **extra,
        }
    )


def _env() -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    return env


def _losses(run, kind="train"):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    return [r["loss"] for r in rows if r["kind"] == kind]


def _weights(run):
    return load_file(run / "model" / "model.safetensors")


@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_two_processes_train_what_one_does_with_accumulation(tmp_path, tiny_args, as_flags, streaming):
    # streaming: every process reads the corpus in file order and keeps its own micro-batches, so the
    # two ranks' shards of a step are disjoint and together are the blocks one process trains on
    one, two = tmp_path / "one", tmp_path / "two"
    cli = ["-m", "rawtune", "pretrain"]
    data = {"data.streaming": "true"} if streaming else {}
    subprocess.run(
        [
            sys.executable,
            *cli,
            f"--output={one}",
            *as_flags(_opts(tiny_args, **{"train.grad_accum": 2}, **data)),
        ],
        check=True,
        env=_env(),
        capture_output=True,
    )
    done = subprocess.run(
        [*LAUNCH, "2", *cli, f"--output={two}", *as_flags(_opts(tiny_args, **data))],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == 16
    assert b == pytest.approx(a, rel=1e-5, abs=1e-6)  # the logged loss is over both processes' samples
    assert _losses(two, "eval") == pytest.approx(_losses(one, "eval"), rel=1e-5)
    wa, wb = _weights(one), _weights(two)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    m = json.loads((two / "metrics.json").read_text())
    assert m["steps"] == 16
    assert (m["corpus"]["train_blocks"] is None) == streaming  # None: streamed, never packed in memory
    # only rank 0 wrote: one manifest, one metrics.jsonl line per step and evaluation
    assert len([r for r in (two / "metrics.jsonl").read_text().splitlines() if '"kind": "train"' in r]) == 16


def _ranks(launcher_pid: int) -> dict[int, int]:
    """LOCAL_RANK -> pid of the launch's worker processes."""
    import psutil

    out = {}
    for p in psutil.Process(launcher_pid).children(recursive=True):
        try:
            rank = p.environ().get("LOCAL_RANK")
        except psutil.Error:
            continue
        if rank is not None and "rawtune" in " ".join(p.cmdline()):
            out[int(rank)] = p.pid
    return out


def test_kill_one_rank_then_resume_gives_the_uninterrupted_weights(tmp_path, tiny_args, as_flags):
    pytest.importorskip("psutil")
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    opts = as_flags(_opts(tiny_args, **{"train.max_steps": 24}))
    cli = ["-m", "rawtune", "pretrain"]
    subprocess.run(
        [*LAUNCH, "2", *cli, f"--output={ref}", *opts], check=True, env=_env(), capture_output=True
    )
    proc = subprocess.Popen(
        [*LAUNCH, "2", *cli, f"--output={crashed}", *opts],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            assert proc.poll() is None, "training ended before a rank could be killed"
            f = crashed / "metrics.jsonl"
            rows = [json.loads(x) for x in f.read_text().splitlines() if x] if f.exists() else []
            if any(r["kind"] == "train" and r["step"] >= 13 for r in rows):
                break
            time.sleep(0.05)
        os.kill(_ranks(proc.pid)[1], signal.SIGKILL)
        assert proc.wait(timeout=120) != 0  # the launcher stops the other rank and fails
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert json.loads((crashed / "manifest.json").read_text())["status"] != "complete"
    done = subprocess.run(
        [*LAUNCH, "2", *cli, f"--output={crashed}", "--resume", *opts],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((crashed / "metrics.json").read_text())["resumed_from"] >= 12
    assert _losses(crashed) == _losses(ref)
    wa, wb = _weights(ref), _weights(crashed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# --- fine-tuning: NER and classification, under accelerate launch and torchrun ------------------------------
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node"]


def _finetune_flags(task: str, backbone, ner_data, cls_data, **extra) -> list[str]:
    """A tiny fine-tuning run on the session's backbone, without dropout (each process would draw
    its own masks), evaluating and checkpointing every 4 steps."""
    data = ner_data if task == "ner" else cls_data
    flags = {
        "task": task,
        "model": str(backbone),
        "train": str(data["train"]),
        "dev": str(data["dev"]),
        "seed": 3,
        "data.max_length": 64,
        "data.stride": 16,
        "model.dropout": 0.0,
        "model.attention_dropout": 0.0,
        "train.max_steps": 8,
        "train.batch_size": 4,
        "train.eval_steps": 4,
        "train.save_steps": 4,
        "train.log_steps": 1,
        "train.threads": 1,
        "train.progress": "false",
        **extra,
    }
    return [f"--{k}={v}" for k, v in flags.items()]


def _dev_metrics(run) -> dict:
    """The final dev scores (the flat numbers)."""
    dev = json.loads((run / "metrics.json").read_text())["dev"]
    return {k: v for k, v in dev.items() if isinstance(v, (int, float))}


@pytest.mark.parametrize(
    "task, launcher",
    [("ner", "accelerate"), ("classification", "torchrun")],
    ids=["ner-accelerate-launch", "classification-torchrun"],
)
def test_finetune_on_two_processes_trains_what_one_does_with_accumulation(
    tmp_path, tiny_backbone, ner_data, cls_data, task, launcher
):
    one, two = tmp_path / "one", tmp_path / "two"
    flags = _finetune_flags(task, tiny_backbone, ner_data, cls_data)
    cli = ["-m", "rawtune", "finetune"]
    subprocess.run(
        [sys.executable, *cli, f"--output={one}", *flags, "--train.grad_accum=2"],
        check=True, env=_env(), capture_output=True,
    )  # fmt: skip
    launch = LAUNCH if launcher == "accelerate" else TORCHRUN
    done = subprocess.run(
        [*launch, "2", *cli, f"--output={two}", *flags],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == 8
    assert b == pytest.approx(a, rel=1e-5, abs=1e-6)  # over both processes' samples
    assert _losses(two, "eval") == pytest.approx(_losses(one, "eval"), rel=1e-5)
    wa, wb = _weights(one), _weights(two)
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    assert _dev_metrics(two) == pytest.approx(_dev_metrics(one), rel=1e-5, abs=1e-6)
    assert len([r for r in (two / "metrics.jsonl").read_text().splitlines() if '"kind": "train"' in r]) == 8


def test_finetune_kill_one_rank_then_resume_gives_the_uninterrupted_run(
    tmp_path, tiny_backbone, ner_data, cls_data
):
    pytest.importorskip("psutil")
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    flags = _finetune_flags("ner", tiny_backbone, ner_data, cls_data, **{"train.max_steps": 40})
    cli = ["-m", "rawtune", "finetune"]
    subprocess.run(
        [*LAUNCH, "2", *cli, f"--output={ref}", *flags], check=True, env=_env(), capture_output=True
    )
    proc = subprocess.Popen(
        [*LAUNCH, "2", *cli, f"--output={crashed}", *flags],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            assert proc.poll() is None, "training ended before a rank could be killed"
            f = crashed / "metrics.jsonl"
            rows = [json.loads(x) for x in f.read_text().splitlines() if x] if f.exists() else []
            if any(r["kind"] == "train" and r["step"] >= 9 for r in rows):
                break
            time.sleep(0.02)
        os.kill(_ranks(proc.pid)[1], signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert json.loads((crashed / "manifest.json").read_text())["status"] != "complete"
    done = subprocess.run(
        [*TORCHRUN, "2", *cli, f"--output={crashed}", "--resume", *flags],  # resumed under the other launcher
        env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((crashed / "metrics.json").read_text())["train"]["resumed_from"] >= 8
    assert _losses(crashed) == _losses(ref) and _losses(crashed, "eval") == _losses(ref, "eval")
    wa, wb = _weights(ref), _weights(crashed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert _dev_metrics(crashed) == _dev_metrics(ref)
