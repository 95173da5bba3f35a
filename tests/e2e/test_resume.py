"""Crash safety: kill -9 mid-run, then --resume, gives bit-identical losses and weights; non-finite
values stop the run in their step and never reach a checkpoint."""

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

import rawtune
from rawtune.errors import NonFiniteError
from rawtune.runs.checkpoint import list_checkpoints

DETERMINISTIC = ("step", "kind", "loss", "lr", "grad_norm", "accuracy", "perplexity", "epoch", "tokens_seen")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rawtune.cli.main", *args]


def _records(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: r[k] for k in DETERMINISTIC if k in r} for r in rows]


def _wait_for_step(run_dir, step, proc, timeout=240):
    deadline = time.time() + timeout
    f = run_dir / "metrics.jsonl"
    while time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be killed"
        if f.exists() and any(json.loads(x).get("step", 0) >= step for x in f.read_text().splitlines() if x):
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for training progress")


@pytest.mark.slow
def test_kill9_then_resume_is_bit_identical(tmp_path, tiny_args, as_flags):
    opts = tiny_args(
        **{
            "train.max_steps": 40,
            "train.save_steps": 5,
            "train.eval_steps": 10,
            "train.keep_last": 2,
            "objective.whole_word": True,
        }
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    subprocess.run(
        _cli("pretrain", f"--output={ref}", *as_flags(opts)), check=True, env=env, capture_output=True
    )

    proc = subprocess.Popen(
        _cli("pretrain", f"--output={crashed}", *as_flags(opts)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_step(crashed, 17, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((crashed / "manifest.json").read_text())["status"] == "running"
    assert not (crashed / "metrics.json").exists()  # not looking finished
    # the newest complete checkpoint at the kill (the kill lands at step 17 or a little later)
    latest = max(step for step, _ in list_checkpoints(crashed / "checkpoints"))
    done = subprocess.run(
        _cli("pretrain", f"--output={crashed}", "--resume", *as_flags(opts)),
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    assert _records(crashed) == _records(ref)
    a, b = load_file(ref / "model" / "model.safetensors"), load_file(crashed / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    m = json.loads((crashed / "metrics.json").read_text())
    assert m["resumed_from"] == latest and latest >= 15 and m["steps"] == 40
    assert m["after"] == json.loads((ref / "metrics.json").read_text())["after"]


def _inject(monkeypatch, at_call: int, kind: str):
    from rawtune.tasks import lm

    original = lm.MaskedLM.forward
    calls = {"n": 0}

    def forward(self, **batch):
        out = original(self, **batch)
        if self.training:
            calls["n"] += 1
            if calls["n"] == at_call:
                if kind == "loss":
                    out["loss"] = out["loss"] * float("nan")
                else:  # finite loss, non-finite gradient: d/dx sqrt(x) at 0 is inf, times 0 is nan
                    w = next(self.model.parameters())
                    out["loss"] = out["loss"] + 0.0 * torch.sqrt((w - w.detach()).abs().sum())
        return out

    monkeypatch.setattr(lm.MaskedLM, "forward", forward)


@pytest.mark.parametrize("kind", ["loss", "grad"])
def test_non_finite_stops_at_that_step_and_is_never_checkpointed(tmp_path, tiny_args, monkeypatch, kind):
    _inject(monkeypatch, at_call=7, kind=kind)
    out = tmp_path / "nan"
    with pytest.raises(NonFiniteError) as e:
        rawtune.pretrain(tiny_args(output=str(out), **{"train.max_steps": 20, "train.save_steps": 3}))
    assert e.value.step == 7 and "step 7" in str(e.value) and len(e.value.samples) == 8
    assert "samples [" in str(e.value)
    assert [s for s, _ in list_checkpoints(out / "checkpoints")] == [3, 6]
    steps = [r["step"] for r in _records(out) if r["kind"] == "train"]
    assert max(steps) == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "step 7" in manifest["error"]
    assert not (out / "model").exists() and not (out / "metrics.json").exists()


def test_streaming_corpus_trains_and_resumes_exactly(tmp_path, tiny_args):
    import shutil

    opts = {"data.streaming": True, "train.max_steps": 8, "train.save_steps": 4, "train.eval_steps": 4}
    opts["train.keep_checkpoints"] = 1  # the finished run is made to look interrupted
    ref = rawtune.pretrain(tiny_args(output=str(tmp_path / "ref"), **opts))
    run = rawtune.pretrain(tiny_args(output=str(tmp_path / "run"), **opts))
    # pretend the second run died after its step-4 checkpoint
    shutil.rmtree(run.model_dir)
    run.metrics_json.unlink()
    run.update_manifest(status="running")
    rawtune.pretrain(tiny_args(output=str(tmp_path / "run"), **opts), resume=True)
    assert _records(run.path) == _records(ref.path)
    assert json.loads(run.metrics_json.read_text())["resumed_from"] == 4
    a, b = load_file(ref.model_dir / "model.safetensors"), load_file(run.model_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
