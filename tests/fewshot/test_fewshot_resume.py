"""`rawtune fewshot --resume`: a study killed in its second seed goes on from that seed's last
checkpoint, keeps the finished seed as it was, and ends with the numbers and weights of an
uninterrupted study; a different config or a changed pool is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from rawtune.errors import CheckpointError
from rawtune.stages.fewshot import run_fewshot


def _flags(tiny_backbone, cls_data) -> list[str]:
    return [
        "--learner=finetune",
        f"--model={tiny_backbone}",
        f"--train={cls_data['train']}",
        f"--dev={cls_data['dev']}",
        "--shots=8",
        "--n-seeds=2",
        "--data.max_length=32",
        "--finetune.max_steps=60",
        "--finetune.batch_size=4",
        "--finetune.lr=3e-3",
        "--finetune.save_steps=5",
        "--finetune.eval_steps=1000",
        "--finetune.log_steps=1",
        "--finetune.threads=1",
        "--finetune.progress=false",
    ]


def _steps(run) -> list[int]:
    f = run / "metrics.jsonl"
    return [json.loads(x)["step"] for x in f.read_text().splitlines() if x] if f.exists() else []


@pytest.mark.slow
def test_kill9_in_second_seed_then_resume_equals_uninterrupted(tmp_path, tiny_backbone, cls_data):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-m", "rawtune.cli.main", "fewshot"]
    flags = _flags(tiny_backbone, cls_data)
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    subprocess.run([*cli, f"--output={ref}", *flags], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        [*cli, f"--output={crashed}", *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        assert proc.poll() is None, "the study ended before it could be killed"
        if any(s >= 22 for s in _steps(crashed / "seed-1")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (crashed / "metrics.json").exists()
    seed0 = crashed / "seed-0" / "metrics.json"
    kept = seed0.read_bytes(), seed0.stat().st_mtime_ns

    done = subprocess.run([*cli, f"--output={crashed}", "--resume", *flags], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (seed0.read_bytes(), seed0.stat().st_mtime_ns) == kept  # the finished seed was not redone
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (ref, crashed))
    assert b["dev"]["accuracy"]["values"] == a["dev"]["accuracy"]["values"]
    assert [r["kshot"]["lines"] for r in b["per_seed"]] == [r["kshot"]["lines"] for r in a["per_seed"]]
    resumed = json.loads((crashed / "seed-1" / "metrics.json").read_text())["train"]["resumed_from"]
    assert resumed is not None and resumed >= 20
    wa, wb = (load_file(d / "seed-1" / "model" / "model.safetensors") for d in (ref, crashed))
    assert all((wa[k] == wb[k]).all() for k in wa)


def _cfg(tmp_path, tiny_backbone, cls_data, **over) -> dict:
    train = {"threads": 1, "progress": False, "log_steps": 1, "warmup_ratio": 0.0, "save_steps": 4}
    cfg = {
        "output": str(tmp_path / "fs"),
        "method": "setfit",
        "shots": 8,
        "seeds": 2,
        "seed": 0,
        "model": {"name_or_path": str(tiny_backbone)},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32},
        "setfit": {"iterations": 5, "train": {**train, "lr": 1e-3, "epochs": 2}},
    }
    return {**cfg, **over}


def test_setfit_seed_that_failed_continues_from_its_checkpoint(
    tmp_path, tiny_backbone, cls_data, monkeypatch
):
    import rawtune.fewshot.setfit as setfit

    ref = run_fewshot(_cfg(tmp_path / "ref", tiny_backbone, cls_data))
    real_save = setfit._save

    def dies_in_seed_1(model_dir, *a, **k):  # the new RUN/model/ being written, beside it
        if model_dir.parent.name == "seed-1":
            raise RuntimeError("disk went away")
        return real_save(model_dir, *a, **k)

    monkeypatch.setattr(setfit, "_save", dies_in_seed_1)
    with pytest.raises(RuntimeError, match="disk went away"):
        run_fewshot(_cfg(tmp_path, tiny_backbone, cls_data))
    monkeypatch.setattr(setfit, "_save", real_save)
    assert any((tmp_path / "fs" / "seed-1" / "checkpoints").iterdir())
    again = run_fewshot(_cfg(tmp_path, tiny_backbone, cls_data), resume=True)
    assert again["dev"]["accuracy"]["values"] == ref["dev"]["accuracy"]["values"]
    assert (tmp_path / "fs" / "seed-1" / "model" / "fewshot_head.json").is_file()
    seed1 = json.loads((tmp_path / "fs" / "seed-1" / "metrics.json").read_text())
    assert seed1["train"]["resumed_from"] is not None  # continued, not trained again from step 0


def test_resume_refuses_another_config_or_a_changed_pool(tmp_path, tiny_backbone, cls_data):
    cfg = _cfg(tmp_path, tiny_backbone, cls_data, seeds=1)
    run_fewshot(cfg)
    with pytest.raises(CheckpointError, match=r"shots \(8 -> 4\)"):
        run_fewshot({**cfg, "shots": 4}, resume=True)
    with pytest.raises(CheckpointError, match="no few-shot study"):
        run_fewshot({**cfg, "output": str(tmp_path / "nothing")}, resume=True)
    # the same config over a pool whose lines moved: seed 0 would now draw other lines
    pool = tmp_path / "pool.csv"
    lines = cls_data["train"].read_text().splitlines()
    pool.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    moved = _cfg(tmp_path / "m", tiny_backbone, {**cls_data, "train": pool}, seeds=1)
    run_fewshot(moved)
    pool.write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckpointError, match="other pool lines"):
        run_fewshot(moved, resume=True)
    # a complete study resumes to the same summary without training again
    before = json.loads((tmp_path / "fs" / "metrics.json").read_text())
    assert run_fewshot(cfg, resume=True)["dev"] == before["dev"]
