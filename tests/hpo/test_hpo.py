"""`rawtune hpo` on the tiny backbone: a bad search space is refused with file, line and key before
anything is created; a study of four trials runs the config's own values first, prunes trials that
lag at an evaluation, writes the best config (which `rawtune finetune --config` takes) and resumes."""

from __future__ import annotations

import csv
import json

import pytest

from rawtune.config.loader import load_config
from rawtune.errors import ConfigError

pytest.importorskip("optuna")


def _finetune(tiny_backbone, cls_data) -> dict:
    return {
        "seed": 0,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "classification"},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32, "stride": 8},
        "train": {
            "max_steps": 40,
            "batch_size": 8,
            "lr": 3e-3,
            "warmup_ratio": 0.0,
            "eval_steps": 10,
            "save_steps": 1000,
            "restore_best": False,
            "threads": 1,
            "progress": False,
        },
    }


def _hpo(tmp_path, tiny_backbone, cls_data, space: str, **over) -> dict:
    path = tmp_path / "space.yaml"
    path.write_text(space)
    return {
        "output": str(tmp_path / "hpo"),
        "space": str(path),
        "trials": 4,
        "startup_trials": 1,
        "finetune": _finetune(tiny_backbone, cls_data),
        **over,
    }


def test_bad_space_is_refused_naming_file_line_and_key(tmp_path, tiny_backbone, cls_data):
    from rawtune.hpo.study import run_hpo

    space = (
        "train.lr: {type: float, low: 0.0, high: 1.0e-3}\n"  # lr must be > 0: the config refuses 0.0
        "train.epoch: {type: int, low: 1, high: 3}\n"  # no such key
        "train:\n"
        "  batch_size: {type: int, low: 8, high: 4}\n"  # low above high
        "  warmup_ratio: {type: float, low: 0.0, high: 0.2, log: true}\n"
        "tuning.method: {type: categorical, choices: []}\n"
    )
    with pytest.raises(ConfigError) as e:
        run_hpo(_hpo(tmp_path, tiny_backbone, cls_data, space))
    text = str(e.value)
    assert "5 problems" in text
    assert "space.yaml:1: train.lr: the value 0.0 is refused by the config" in text
    assert "space.yaml:2: train.epoch: not a fine-tuning config key (did you mean 'train.epochs'?)" in text
    assert "space.yaml:4: train.batch_size: low (8) must be below high (4)" in text
    assert "space.yaml:5: train.warmup_ratio: log needs low > 0" in text
    assert "space.yaml:6: tuning.method: categorical needs a non-empty list of choices" in text
    assert not (tmp_path / "hpo").exists()


def test_study_runs_baseline_first_prunes_a_hopeless_trial_and_writes_best(tmp_path, tiny_backbone, cls_data):
    from rawtune.hpo.study import run_hpo

    # base lr 3e-3 learns the separable reviews; most of this log range cannot move the tiny model
    space = "train.lr: {type: float, low: 1.0e-9, high: 3.0e-3, log: true}\n"
    summary = run_hpo(_hpo(tmp_path, tiny_backbone, cls_data, space))
    root = tmp_path / "hpo"
    rows = list(csv.DictReader((root / "trials.csv").open()))
    assert len(rows) == 4 and rows[0]["baseline"] == "True" and float(rows[0]["param.train.lr"]) == 3e-3
    assert summary["trials"]["complete"] + summary["trials"]["pruned"] == 4
    assert summary["trials"]["pruned"] >= 1, rows
    for r in rows:
        manifest = json.loads((root / f"trial-{r['trial']}" / "manifest.json").read_text())
        assert manifest["status"] == {"complete": "complete", "pruned": "pruned"}[r["state"]]
        if r["state"] == "pruned":  # stopped early: fewer steps than the 40 a complete trial runs
            assert int(r["last_step"]) < 40
    best = summary["best"]
    dev = json.loads((root / f"trial-{best['trial']}" / "metrics.json").read_text())["dev"]
    assert best["value"] == dev["macro_f1"] == max(float(r["value"]) for r in rows if r["value"])
    assert summary["gain_over_baseline"] == best["value"] - summary["baseline"]["value"]
    # best.yaml is a fine-tuning config with the best trial's values
    ft = load_config("finetune", file=root / "best.yaml", overrides={"output": str(tmp_path / "again")})
    assert ft.train.lr == best["params"]["train.lr"] and ft.train.max_steps == 40
    assert (root / "history.png").is_file() and "| trial | state |" in (root / "report.md").read_text()

    # --resume with more trials is another config: refused; the same config finishes at once
    from rawtune.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"trials \(4 -> 5\)"):
        run_hpo(_hpo(tmp_path, tiny_backbone, cls_data, space, trials=5), resume=True)
    again = run_hpo(_hpo(tmp_path, tiny_backbone, cls_data, space), resume=True)
    assert again["best"] == best and len(list(root.glob("trial-*"))) == 4


def test_cli_with_dotted_finetune_flags(tmp_path, tiny_backbone, cls_data, capsys):
    from rawtune.cli.main import main

    space = tmp_path / "space.yaml"
    space.write_text("train.lr:\n  type: categorical\n  choices: [0.003, 0.001]\n")
    ft = _finetune(tiny_backbone, cls_data)
    flags = [f"--train.{k}={v}" for k, v in ft["train"].items()]
    code = main(
        ["hpo", "--task=classification", f"--model={tiny_backbone}", f"--train={cls_data['train']}",
         f"--dev={cls_data['dev']}", f"--space={space}", "--trials=2", "--pruner=none",
         f"--output={tmp_path / 'h'}", "--data.max_length=32", "--data.stride=8", *flags]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "2 complete, 0 pruned, 0 failed" in out and "best: trial" in out
    cfg = load_config("hpo", file=tmp_path / "h" / "config.yaml")
    assert cfg.trials == 2 and cfg.finetune.train.max_steps == 40 and cfg.pruner == "none"
