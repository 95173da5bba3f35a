"""Fine-tuning is crash safe like pretraining: kill -9 mid-run, --resume, and the metrics, the best
step and the final (best) weights are exactly those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

KEYS = ("step", "kind", "loss", "lr", "grad_norm", "f1", "accuracy")


def _records(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: r[k] for k in KEYS if k in r} for r in rows]


@pytest.mark.slow
def test_finetune_kill9_resume_identical(tmp_path, tiny_backbone, ner_data):
    flags = [
        "--task=ner",
        f"--model={tiny_backbone}",
        f"--train={ner_data['train']}",
        f"--dev={ner_data['dev']}",
        "--seed=5",
        "--train.max_steps=40",
        "--train.batch_size=4",
        "--train.lr=3e-3",
        "--train.eval_steps=5",
        "--train.save_steps=5",
        "--train.log_steps=1",
        "--train.threads=1",
        "--train.progress=false",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "rawtune.cli.main", "finetune"]
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    subprocess.run([*cli, f"--output={ref}", *flags], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        [*cli, f"--output={crashed}", *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be killed"
        f = crashed / "metrics.jsonl"
        if f.exists() and any(json.loads(x)["step"] >= 22 for x in f.read_text().splitlines() if x):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(
        [*cli, f"--output={crashed}", "--resume", *flags], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _records(crashed) == _records(ref)
    a, b = json.loads((ref / "metrics.json").read_text()), json.loads((crashed / "metrics.json").read_text())
    assert a["dev"]["f1"] == b["dev"]["f1"] and a["train"]["best_step"] == b["train"]["best_step"]
    assert b["train"]["resumed_from"] is not None
    wa, wb = (
        load_file(ref / "model" / "model.safetensors"),
        load_file(crashed / "model" / "model.safetensors"),
    )
    assert all((wa[k] == wb[k]).all() for k in wa)
