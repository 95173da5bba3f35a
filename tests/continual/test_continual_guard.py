"""`rawtune continual` refuses, by name and before any work, the task kinds it cannot continue."""

from __future__ import annotations

import shutil

import pytest
import yaml

from rawtune.cli.main import main


@pytest.mark.parametrize(
    "task",
    [
        {"name": "qa"},
        {"name": "relations"},
        {"name": "seq2seq"},
        {"name": "causal"},
        {"name": "pairs"},
        {"name": "classification", "label_kind": "multi"},
    ],
    ids=lambda t: t.get("label_kind", t["name"]),
)
def test_unsupported_task_kinds_are_refused_in_one_line(tmp_path, phase1_run, phases, capfd, task):
    previous = tmp_path / "previous"
    shutil.copytree(phase1_run, previous)
    cfg = yaml.safe_load((previous / "config.yaml").read_text())
    (previous / "config.yaml").write_text(yaml.safe_dump({**cfg, "task": task}))
    out = tmp_path / "next"
    capfd.readouterr()
    argv = ["continual", str(previous), f"--new-data={phases['train2']}", f"--dev={phases['dev2']}"]
    assert main([*argv, f"--output={out}"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"does not support {task.get('label_kind', '')}" in err and task["name"] in err
    assert "ner" in err and str(previous) in err
    assert not out.exists()
