"""Checkpoint retention: a complete run keeps its model and, unless train.keep_checkpoints asks for
some, no checkpoint (no stale optimizer state); an unfinished run keeps what --resume needs."""

from __future__ import annotations

import json

import pytest

from rawtune.runs import faults
from rawtune.runs.checkpoint import list_checkpoints
from rawtune.runs.rundir import COMPLETE, RunDir
from rawtune.stages.finetune import run_finetune


def _optimizer_states(run: RunDir) -> list:
    return sorted(run.path.rglob("optimizer.pt"))


def test_a_complete_run_keeps_its_model_and_no_checkpoint(tmp_path, ner_config):
    run = run_finetune(ner_config(tmp_path / "run"))
    assert run.status == COMPLETE and (run.model_dir / "model.safetensors").is_file()
    assert list_checkpoints(run.checkpoints_dir) == [] and _optimizer_states(run) == []
    record = run.manifest()["checkpoints"]
    assert record["kept"] == 0 and record["freed_mb"] > 0
    from rawtune.runs.doctor import diagnose

    diagnosis = diagnose(run.path)
    assert diagnosis.healthy, diagnosis.findings


def test_keep_checkpoints_keeps_the_newest(tmp_path, ner_config):
    run = run_finetune(ner_config(tmp_path / "run", train={"max_steps": 9, "keep_checkpoints": 1}))
    assert [s for s, _ in list_checkpoints(run.checkpoints_dir)] == [6]  # none at the last step
    assert len(_optimizer_states(run)) == 1 and run.manifest()["checkpoints"]["kept"] == 1


def test_an_interrupted_run_keeps_its_checkpoints_and_resumes(tmp_path, ner_config, monkeypatch):
    cfg = ner_config(tmp_path / "run")
    monkeypatch.setenv(faults.ENV, "step#4=enospc")
    monkeypatch.setattr(faults, "_hits", {})
    with pytest.raises(OSError):
        run_finetune(cfg)
    run = RunDir(tmp_path / "run")
    assert run.status != COMPLETE and [s for s, _ in list_checkpoints(run.checkpoints_dir)] == [3]
    assert "checkpoints" not in run.manifest()
    monkeypatch.delenv(faults.ENV)
    done = run_finetune(cfg, resume=True)
    assert json.loads(done.metrics_json.read_text())["train"]["resumed_from"] == 3
    assert done.status == COMPLETE and list_checkpoints(done.checkpoints_dir) == []


def test_the_best_checkpoint_stays_when_the_final_model_is_not_it(tmp_path, ner_config, monkeypatch):
    from rawtune.train import fit

    monkeypatch.setattr(fit, "_improved", lambda metrics, best, select: best is None)  # step 3 stays best
    train = {"max_steps": 9, "eval_steps": 3, "save_steps": 3, "eval_before": False, "restore_best": False}
    run = run_finetune(ner_config(tmp_path / "run", train=train))
    assert [s for s, _ in list_checkpoints(run.checkpoints_dir)] == [3]  # step 6 freed, the best kept
    assert run.manifest()["checkpoints"]["best"] == "checkpoints/step-3"
    assert json.loads(run.metrics_json.read_text())["train"]["best_step"] == 3
