"""Continued pretraining from a checkpoint without a masked-LM head (the tiny backbone is a bare
BertModel save, as the packaged MiniLM is): the head trains alone first, the encoder frozen, then the
whole model; both phases are one run (metrics.jsonl, checkpoints, report), and a kill -9 in either
phase, or at the boundary, resumes to bit-identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

import rawtune
from rawtune.runs.checkpoint import list_checkpoints, read_state

DETERMINISTIC = ("step", "kind", "phase", "loss", "lr", "grad_norm", "accuracy", "perplexity", "tokens_seen")


@pytest.fixture(scope="module")
def raw_text(tmp_path_factory):
    from rawtune.samples.synthetic_ner import write

    return write(tmp_path_factory.mktemp("raw"), sizes={"train": 400})["raw"]


@pytest.fixture
def lm_config(tmp_path, tiny_backbone, raw_text):
    def make(out, **sections):
        cfg = {
            "output": str(out),
            "seed": 5,
            "model": {"name_or_path": str(tiny_backbone)},
            "data": {
                "corpus": [str(raw_text)],
                "seq_len": 32,
                "validation_split": 0.1,
                "cache_dir": str(tmp_path / "cache"),
            },
            "head_warmup": {"max_steps": 40, "eval_steps": 4, "patience": 2, "lr": 3e-2},
            "train": {
                "max_steps": 8,
                "batch_size": 8,
                "lr": 2e-3,
                "eval_steps": 4,
                "save_steps": 4,
                "keep_last": 50,
                "keep_checkpoints": 50,  # the tests read the finished run's checkpoints
                "threads": 1,
                "progress": False,
                "log_steps": 1,
            },
        }
        for key, value in sections.items():
            cfg[key] = {**cfg.get(key, {}), **value}
        return cfg

    return make


def _records(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [{k: r[k] for k in DETERMINISTIC if k in r} for r in rows]


def _sealed(run_dir):
    """(step, path) of the checkpoint that closed the head phase."""
    found = [(s, p) for s, p in list_checkpoints(run_dir / "checkpoints") if read_state(p).get("done")]
    assert len(found) == 1, found
    return found[0]


def test_head_trains_alone_then_the_whole_model(tmp_path, lm_config, tiny_backbone):
    run = rawtune.pretrain(lm_config(tmp_path / "run"))
    m = json.loads(run.metrics_json.read_text())
    head, full = m["phases"]
    assert (head["phase"], full["phase"]) == ("head", "full")
    n = head["last_step"]
    assert 1 <= n <= 40 and full["first_step"] == n + 1 and m["steps"] == n + 8
    # every record names its phase; steps run on across the boundary
    recs = _records(run.path)
    assert {r["phase"] for r in recs if r["step"] <= n} == {"head"}
    assert {r["phase"] for r in recs if r["step"] > n} == {"full"}
    assert [r["step"] for r in recs if r["kind"] == "train"] == list(range(1, n + 9))
    # the head learnt from noise: the run's `before` is the random head, the warm-up's after is lower
    assert head["after"]["loss"] < m["before"]["loss"] - 0.5
    assert full["before"] == head["after"]
    # the encoder is untouched in phase 1: the sealed checkpoint holds the backbone's own weights
    step, sealed = _sealed(run.path)
    assert step == n and read_state(sealed)["phase"] == "head"
    warm = load_file(sealed / "model.safetensors")
    given = {f"bert.{k}": v for k, v in load_file(tiny_backbone / "model.safetensors").items()}
    given = {k: v for k, v in given.items() if k in warm}  # all but the pooler, which MLM has not
    assert len(given) > 20 and all(torch.equal(warm[k], v) for k, v in given.items())
    final = load_file(run.model_dir / "model.safetensors")
    assert any(not torch.equal(final[k], v) for k, v in given.items())  # phase 2 moved it
    a = m["adaptation"]
    assert a["from"] == "head warm-up" and a["loss"] == [head["after"]["loss"], m["after"]["loss"]]
    manifest = json.loads(run.manifest_path.read_text())
    assert "cls.predictions.transform.dense.weight" in manifest["untrained_head"]
    html = (run.path / "report.html").read_text()
    assert "Head warm-up" in html and "encoder frozen" in html


def test_no_warmup_under_a_trained_head_unless_asked(tmp_path, lm_config):
    first = rawtune.pretrain(lm_config(tmp_path / "first", head_warmup={"enabled": False}))
    m = json.loads(first.metrics_json.read_text())
    assert "phases" not in m and m["steps"] == 8  # asked not to, though the head is missing
    assert json.loads(first.manifest_path.read_text())["untrained_head"]
    assert all("phase" not in r for r in _records(first.path))
    second = rawtune.pretrain(lm_config(tmp_path / "second", model={"name_or_path": str(first.path)}))
    assert json.loads(second.manifest_path.read_text())["untrained_head"] == []
    assert "phases" not in json.loads(second.metrics_json.read_text())  # auto: its head is trained
    forced = rawtune.pretrain(
        lm_config(tmp_path / "forced", model={"name_or_path": str(first.path)}, head_warmup={"enabled": True})
    )
    assert [p["phase"] for p in json.loads(forced.metrics_json.read_text())["phases"]] == ["head", "full"]


def test_adaptation_that_never_beats_the_warmed_up_model_keeps_it_and_warns(tmp_path, lm_config, caplog):
    # a rate that wrecks the encoder: every evaluation of phase 2 is worse than where it started
    cfg = lm_config(tmp_path / "run", train={"lr": 5.0, "max_grad_norm": None, "warmup_ratio": 0.0})
    run = rawtune.pretrain(cfg)
    m = json.loads(run.metrics_json.read_text())
    head = m["phases"][0]
    assert m["adaptation"]["kept_start"] and not m["adaptation"]["improved"]
    assert m["after"] == head["after"] and m["best_step"] == head["last_step"]
    warm = load_file(_sealed(run.path)[1] / "model.safetensors")
    final = load_file(run.model_dir / "model.safetensors")
    assert all(torch.equal(final[k], warm[k]) for k in warm)
    assert m["warnings"] and "kept unchanged" in m["warnings"][0]
    assert any("kept unchanged" in r.getMessage() for r in caplog.records)
    assert "kept unchanged" in (run.path / "report.html").read_text()


def _cli(cfg_file, *args, fault=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("RAWTUNE_FAULT", None)
    if fault:
        env["RAWTUNE_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "rawtune.cli.main", "pretrain", "--config", str(cfg_file), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_kill9_in_either_phase_or_at_the_boundary_resumes_bit_identically(tmp_path, lm_config):
    def config(name):
        f = tmp_path / f"{name}.yaml"
        f.write_text(yaml.safe_dump(lm_config(tmp_path / name, train={"save_steps": 2})))
        return f

    ref = _cli(config("ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    n = json.loads((tmp_path / "ref" / "metrics.json").read_text())["phases"][0]["last_step"]
    want_w = load_file(tmp_path / "ref" / "model" / "model.safetensors")
    # mid head phase; the first step after the sealed checkpoint; mid whole-model phase
    # (name, the step killed at, the checkpoint the resume starts from: periodic ones every 2 steps
    # of a phase, best ones, the sealed one at n)
    cases = (("in-head", n - 1, range(1, n - 1)), ("boundary", n + 1, [n]), ("in-full", n + 5, [n + 4]))
    assert n >= 3, n
    for name, step, resumed_from in cases:
        cfg = config(name)
        killed = _cli(cfg, fault=f"step#{step}=kill")
        assert killed.returncode == -9, (name, killed.stderr[-2000:])
        assert not (tmp_path / name / "metrics.json").exists()
        done = _cli(cfg, "--resume")
        assert done.returncode == 0, (name, done.stderr[-2000:])
        assert _records(tmp_path / name) == _records(tmp_path / "ref"), name
        got = load_file(tmp_path / name / "model" / "model.safetensors")
        assert got.keys() == want_w.keys() and all(torch.equal(got[k], want_w[k]) for k in got), name
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        assert [p["phase"] for p in m["phases"]] == ["head", "full"], name
        assert m["resumed_from"] in resumed_from, (name, m["resumed_from"])
