"""A2/A3 at the file level: what a kill mid-write leaves behind is never trusted, and never a crash.
metrics.jsonl with a torn last line (a kill or a full disk while appending) resumed fine only after
this fix: `--resume` used to die with a JSONDecodeError traceback."""

from __future__ import annotations

import json

import pytest

from rawtune.errors import RunDirError
from rawtune.runs.checkpoint import verify_checkpoint
from rawtune.runs.rundir import RunDir

pytestmark = pytest.mark.slow  # reliability runs: make test-all (CI)


def _run(tmp_path, text: str) -> RunDir:
    (tmp_path / "metrics.jsonl").write_text(text)
    return RunDir(tmp_path)


def test_a_torn_last_metrics_line_is_left_out_and_resume_truncates_cleanly(tmp_path, caplog):
    good = "".join(json.dumps({"step": s, "kind": "train", "loss": 1.0 / s}) + "\n" for s in (1, 2, 3))
    run = _run(tmp_path, good + '{"step": 4, "kind": "tr')
    assert [r["step"] for r in run.read_metrics()] == [1, 2, 3]
    assert "metrics.jsonl:4: a torn last line" in caplog.text
    run.truncate_metrics(2)
    assert run.metrics_jsonl.read_text() == good[: good.index('{"step": 3')]


def test_a_damaged_line_before_the_end_names_file_and_line(tmp_path):
    run = _run(tmp_path, '{"step": 1}\n{"step": 2, "lo\n{"step": 3}\n')
    with pytest.raises(RunDirError, match=r"metrics\.jsonl:2: not a JSON record"):
        run.read_metrics()


@pytest.mark.parametrize(
    "checksums",
    [
        '{"files": []}',
        '{"files": {"model.safetensors": 1}}',
        '{"files": {"x": {"sha256": "0"}}}',
        "[1]",
        "\xff",
    ],
    ids=["files-a-list", "meta-a-number", "meta-without-bytes", "not-an-object", "not-utf8"],
)
def test_a_crafted_checksums_file_is_a_reason_not_a_crash(tmp_path, checksums, figures):
    ckpt = tmp_path / "step-3"
    ckpt.mkdir()
    (ckpt / "x").write_text("x")
    (ckpt / "trainer_state.json").write_text("{}")
    (ckpt / "checksums.json").write_bytes(checksums.encode("latin-1"))
    why = verify_checkpoint(ckpt)
    figures(
        "corruption",
        target="checkpoints/checksums.json",
        damage=f"crafted: {checksums!r}",
        detected=bool(why),
    )
    assert why is not None and "checksums.json" in why
