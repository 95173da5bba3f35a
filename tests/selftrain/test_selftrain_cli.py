"""`rawtune selftrain` on the command line (flags, dotted overrides, one-line errors with exit 2) and
as a pipeline stage kind whose downstream stage loads the best round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rawtune.cli.main import build_parser, main

TINY = ["--train.max_steps", "6", "--train.eval_steps", "6", "--train.save_steps", "6", "--train.batch_size", "8",
        "--train.threads", "1", "--data.max_length", "64", "--data.stride", "16"]  # fmt: skip


def test_every_flag_has_help() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    parser = sub.choices["selftrain"]
    missing = [a.option_strings for a in parser._actions if a.option_strings and not a.help]
    assert not missing


def test_the_command_trains_a_student_from_a_given_teacher(
    tmp_path, ner_run, ner_data, raw_ner, capsys
) -> None:
    out = tmp_path / "st"
    argv = ["selftrain", "--task", "ner", "--teacher", str(ner_run.path), "--train", str(ner_data["train"]),
            "--dev", str(ner_data["dev"]), "--unlabeled", str(raw_ner), "--rounds", "1", "--output", str(out),
            "--threshold", "0.05", "--pseudo-weight", "0.3", "--train.progress", "false", *TINY]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    printed = lines[next(i for i, line in enumerate(lines) if line.startswith("round 0 ")) :]  # after the log
    summary = json.loads((out / "selftrain.json").read_text())
    assert printed[0].startswith("round 0  dev f1 ") and str(ner_run.path.resolve()) in printed[0]
    assert "pseudo-labeled" in printed[1] and printed[-2] == f"best: round {summary['best']['round']}"
    best = summary["best"]["run"]
    assert printed[-1] == (best if Path(best).is_absolute() else str(out / best))
    cfg = yaml.safe_load((out / "round-1" / "config.yaml").read_text())
    assert cfg["data"]["extra_weight"] == 0.3 and cfg["train"]["progress"] is False
    assert (
        cfg["model"]["name_or_path"]
        == yaml.safe_load((ner_run.path / "config.yaml").read_text())["model"]["name_or_path"]
    )
    assert summary["rounds"][0] | {"dev": None} == {
        "round": 0,
        "run": str(ner_run.path.resolve()),
        "given": True,
        "dev": None,
    }


def test_bad_input_is_one_line_and_exit_2(tmp_path, ner_data, tiny_backbone, capsys) -> None:
    out = tmp_path / "st"
    argv = ["selftrain", "--task", "ner", "--model", str(tiny_backbone), "--train", str(ner_data["train"]),
            "--dev", str(ner_data["dev"]), "--unlabeled", str(ner_data["raw"]), "--output", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("rawtune selftrain: error: ") and "no unlabeled text left" in err and "\n" not in err
    )
    assert not out.exists()
    assert main(["selftrain", "--task", "ner", "--output", str(out), "--rounds", "0"]) == 2
    assert "rounds" in capsys.readouterr().err


@pytest.mark.slow
def test_a_pipeline_stage_hands_its_best_round_downstream(
    tmp_path, tiny_backbone, ner_data, ner_run, raw_ner
) -> None:
    from rawtune.pipeline import Pipeline

    train = {"max_steps": 6, "eval_steps": 6, "save_steps": 6, "batch_size": 8, "threads": 1, "lr": 3e-3}
    stages = [
        {
            "name": "st",
            "kind": "selftrain",
            "config": {
                "task": {"name": "ner"},
                "teacher": str(ner_run.path),
                "data": {
                    "train": str(ner_data["train"]),
                    "dev": str(ner_data["dev"]),
                    "max_length": 64,
                    "stride": 16,
                },
                "unlabeled": [str(raw_ner)],
                "select": {"threshold": 0.05},
                "train": train,
            },
        },
        {"name": "dev", "kind": "evaluate", "from": "st", "config": {"data": str(ner_data["dev"])}},
    ]
    spec = {
        "name": "st",
        "output": str(tmp_path / "out"),
        "model": str(tiny_backbone),
        "seed": 3,
        "stages": stages,
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    Pipeline.load(path).run(serve=False, progress=False)
    out = tmp_path / "out"
    summary = json.loads((out / "st" / "selftrain.json").read_text())
    best = Path(summary["best"]["run"])
    best = best if best.is_absolute() else out / "st" / best
    evaluated = json.loads((out / "dev" / "metrics.json").read_text())["evaluated"]
    assert evaluated == str(best)
    # the stage's config took the pipeline's seed, and the teacher's backbone (no model named)
    assert yaml.safe_load((out / "st" / "config.yaml").read_text())["model"]["name_or_path"] is None
    assert {s.stage.name: s.action for s in Pipeline.load(path).plan()} == {"st": "skip", "dev": "skip"}


@pytest.mark.slow
def test_killed_between_rounds_it_looks_unfinished_and_resume_completes(
    tmp_path, ner_run, ner_data, raw_ner
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from rawtune.runs.rundir import COMPLETE, RunDir

    out = tmp_path / "st"
    argv = [sys.executable, "-m", "rawtune.cli.main", "selftrain", "--task", "ner", "--teacher", str(ner_run.path),
            "--train", str(ner_data["train"]), "--dev", str(ner_data["dev"]), "--unlabeled", str(raw_ner),
            "--rounds", "2", "--output", str(out), "--threshold", "0.05", "--train.progress", "false", *TINY]  # fmt: skip
    env = {**os.environ, "RAWTUNE_FAULT": "selftrain.round#2=kill"}
    killed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert RunDir(out).status == "running" and not (out / "selftrain.json").exists()
    assert RunDir(out / "round-1").status == COMPLETE and not (out / "round-2").exists()
    student = (out / "round-1" / "manifest.json").stat().st_mtime_ns
    done = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (
        RunDir(out).status == COMPLETE and (out / "round-1" / "manifest.json").stat().st_mtime_ns == student
    )
    assert [r["round"] for r in json.loads((out / "selftrain.json").read_text())["rounds"]] == [0, 1, 2]
