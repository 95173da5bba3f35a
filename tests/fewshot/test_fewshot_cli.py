"""`rawtune fewshot` end to end on the tiny backbone, and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from rawtune.cli.main import main

FAST = ["--finetune.threads=1", "--finetune.progress=false", "--finetune.lr=3e-3", "--data.max_length=32"]


def test_cli_finetune_two_seeds(tmp_path, tiny_backbone, cls_data, capsys):
    out = tmp_path / "fs"
    argv = ["fewshot", "--model", str(tiny_backbone), "--train", str(cls_data["train"])]
    argv += ["--dev", str(cls_data["dev"]), "--shots", "4", "--n-seeds", "2", "--seed", "5"]
    argv += ["--learner", "finetune", "--output", str(out), *FAST]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "dev accuracy:" in printed and "(2 seeds)" in printed
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["seeds"] == [5, 6] and summary["method"] == "finetune"
    assert {"mean", "std", "values"} <= set(summary["dev"]["macro_f1"])
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["shots"] == 4 and cfg["finetune"]["lr"] == 3e-3
    for rec in summary["per_seed"]:
        assert len(rec["kshot"]["lines"]) == 8
        manifest = json.loads((out / f"seed-{rec['seed']}" / "manifest.json").read_text())
        assert manifest["kshot"]["lines"] == rec["kshot"]["lines"]
        ft = yaml.safe_load((out / f"seed-{rec['seed']}" / "config.yaml").read_text())
        assert ft["data"]["train"].endswith(f"kshot/seed-{rec['seed']}.csv")  # lineage: the sample file


def test_cli_refuses_too_few_examples_before_training(tmp_path, tiny_backbone, cls_data, capsys):
    out = tmp_path / "fs"
    argv = ["fewshot", "--model", str(tiny_backbone), "--train", str(cls_data["dev"])]
    argv += ["--dev", str(cls_data["dev"]), "--shots", "9", "--output", str(out)]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "9 examples per class are needed" in err and "has 8" in err
    assert not (out / "seed-0").exists()


def test_help_imports_no_torch():
    code = (
        "import sys; from rawtune.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_descriptions_file_flag_and_task_defaults(tmp_path, tiny_backbone, cls_data):
    import pytest

    from rawtune.config.loader import load_config
    from rawtune.errors import ConfigError

    desc = tmp_path / "desc.yaml"
    desc.write_text("pos: a happy text\nneg: [a sad text, bad]\n")
    cfg = load_config("fewshot", require=False, overrides={"descriptions": str(desc)})
    assert cfg.descriptions == {"pos": ["a happy text"], "neg": ["a sad text", "bad"]}
    assert cfg.floor_steps == 0
    ner = load_config("fewshot", require=False, overrides={"task": "ner"})
    assert ner.floor_steps == 300 and ner.finetune.lr == 1e-4
    assert (
        load_config("fewshot", require=False, overrides={"task": "ner", "finetune.lr": 3e-5}).finetune.lr
        == 3e-5
    )
    assert load_config("fewshot", require=False).finetune.lr == 5e-5  # classification keeps its rate
    assert load_config("fewshot", require=False, overrides={"task": "ner", "min_steps": "5"}).floor_steps == 5
    with pytest.raises(ConfigError, match="task ner takes none"):
        load_config("fewshot", require=False, overrides={"task": "ner", "descriptions": str(desc)})
