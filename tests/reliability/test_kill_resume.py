"""A1-A4: real processes killed at exact points of a run (SIGKILL, SIGTERM, Ctrl-C, a full disk; at a
step, mid-checkpoint-write, between the temp dir and its rename, mid-metrics-line, during an
evaluation, before the run is marked complete), then `--resume` in a new process. Each resumed run
must pick the newest complete checkpoint (never a torn one) and end bit-identical to an
uninterrupted run: the same metrics.jsonl (every seed-determined field) and the same final weights.
The kill points are armed through RAWTUNE_FAULT (src/rawtune/runs/faults.py); the cases are data
(cases.py)."""

from __future__ import annotations

import json

import pytest
from cases import EXIT, KILL_CASES, REFUSED_CASES, KillCase

from harness import cli, records, same_weights, traceback_in
from rawtune.runs.checkpoint import list_checkpoints, verify_checkpoint

pytestmark = pytest.mark.slow


def _torn(run) -> list[str]:
    """Checkpoint leftovers that must never be resumed from: temp dirs and step dirs that do not verify."""
    root = run / "checkpoints"
    out = [p.name for p in root.glob(".tmp-*")]
    out += [p.name for _, p in list_checkpoints(root) if verify_checkpoint(p) is not None]
    return out


def _resumed_from(run):
    m = json.loads((run / "metrics.json").read_text())
    return m["resumed_from"] if "resumed_from" in m else m["train"]["resumed_from"]


def _kill(stage_flags, case: KillCase, run):
    killed = cli(*stage_flags[case.stage], f"--output={run}", fault=case.fault)
    assert killed.returncode == EXIT[case.action], (killed.returncode, killed.stderr[-3000:])
    assert not traceback_in(killed.stderr), killed.stderr[-3000:]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == ("failed" if case.action in ("int", "enospc") else "running")
    assert not (run / "metrics.json").exists()  # never looks finished
    if case.action == "enospc":
        last = killed.stderr.strip().splitlines()[-1]
        assert last.startswith("rawtune ") and "No space left on device" in last, killed.stderr
        assert str(run) in last  # names the file it could not write
    if case.action == "int":
        assert killed.stderr.strip().endswith("rawtune: interrupted")
    return killed


@pytest.mark.parametrize("case", KILL_CASES, ids=lambda c: c.id)
def test_kill_then_resume_is_bit_identical(case, stage_flags, reference, tmp_path, figures):
    ref = reference(case.stage)
    run = tmp_path / "run"
    _kill(stage_flags, case, run)
    torn = _torn(run)
    done = cli(*stage_flags[case.stage], f"--output={run}", "--resume")
    resumed_ok = done.returncode == 0
    exact = resumed_ok and records(run) == records(ref) and not same_weights(ref, run)
    selected = resumed_ok and any(t == f"step-{_resumed_from(run)}" for t in torn)
    figures(
        "kill",
        case=case.id,
        signal=case.action,
        bit_exact=exact,
        torn_created=len(torn),
        torn_selected=selected,
    )

    assert resumed_ok, done.stderr[-3000:]
    assert not traceback_in(done.stderr)
    assert bool(torn) == case.torn, torn
    assert _resumed_from(run) == case.resumed_from
    assert not selected
    assert records(run) == records(ref)
    assert same_weights(ref, run) == []
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    assert not list((run / "checkpoints").glob(".tmp-*"))  # leftovers of the kill are cleaned up


@pytest.mark.parametrize("case", REFUSED_CASES, ids=lambda c: c.id)
def test_a_kill_before_the_first_checkpoint_refuses_resume_and_changes_nothing(
    case, stage_flags, tmp_path, figures
):
    run = tmp_path / "run"
    _kill(stage_flags, case, run)
    before = _files(run)
    done = cli(*stage_flags[case.stage], f"--output={run}", "--resume")
    after = _files(run)
    figures("kill", case=case.id, signal=case.action, refused=done.returncode == 2, torn_created=0)
    assert done.returncode == 2 and not traceback_in(done.stderr), done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "no complete checkpoint" in last and str(run / "checkpoints") in last
    assert after == before  # nothing is written (the log aside)


def _files(run) -> dict:
    return {
        p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.parent.name != "logs"
    }
