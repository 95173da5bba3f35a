"""Learning curves: nested training subsets, one fine-tuning run per (model, fraction), reuse on re-run,
and the pipeline stage that draws the curve with and without task-adaptive pretraining."""

from __future__ import annotations

import json

import pytest
import yaml

from rawtune.cli.finetune_cmd import parse_fractions
from rawtune.cli.main import main
from rawtune.config.loader import load_config
from rawtune.data.splits import train_subset
from rawtune.errors import ConfigError
from rawtune.pipeline import Pipeline
from rawtune.stages.learning_curve import run_learning_curve


def test_smaller_fractions_are_subsets_of_larger_ones(ner_data, ner_config, tmp_path):
    from rawtune.data.readers.labeled import read_token_file

    train = read_token_file(str(ner_data["train"]))
    base = ner_config(tmp_path / "r")
    kept = {}
    for frac in (0.1, 0.25, 0.5, 1.0):
        cfg = load_config("finetune", base={**base, "data": {**base["data"], "train_fraction": frac}})
        kept[frac] = {(e.file, e.line) for e in train_subset(train, cfg).examples}
    assert [len(kept[f]) for f in (0.1, 0.25, 0.5, 1.0)] == [6, 16, 32, 64]
    assert kept[0.1] < kept[0.25] < kept[0.5] < kept[1.0]
    again = load_config("finetune", base={**base, "data": {**base["data"], "train_fraction": 0.25}})
    assert {(e.file, e.line) for e in train_subset(train, again).examples} == kept[0.25]  # deterministic
    other = load_config(
        "finetune", base={**base, "seed": 4, "data": {**base["data"], "train_fraction": 0.25}}
    )
    # a function of the seed
    assert {(e.file, e.line) for e in train_subset(train, other).examples} != kept[0.25]


def test_parse_fractions():
    assert parse_fractions("1.0, 0.05,0.01,0.05") == [0.01, 0.05, 1.0]
    for bad in ("", "0", "1.5", "a,b", "-0.1"):
        with pytest.raises(ConfigError):
            parse_fractions(bad)


def test_a_curve_is_one_run_per_fraction_and_a_rerun_reuses_them(ner_config, tiny_backbone, tmp_path):
    cfg = ner_config(tmp_path / "curve", train={"max_steps": 2, "eval_steps": 2})
    root = run_learning_curve(cfg, [1.0, 0.25])
    curve = json.loads((root / "learning_curve.json").read_text())
    assert curve["metric"] == "f1" and curve["split"] == "dev"
    (series,) = curve["series"]
    assert series["model"] == str(tiny_backbone)
    assert [p["fraction"] for p in series["points"]] == [0.25, 1.0]
    assert [p["examples"] for p in series["points"]] == [16, 64]
    for p in series["points"]:
        m = json.loads((root / p["run"] / "metrics.json").read_text())
        assert p["value"] == m["dev"]["f1"] and m["train"]["examples"] == p["examples"]
    before = [(root / p["run"] / "manifest.json").read_bytes() for p in series["points"]]
    run_learning_curve(cfg, [0.25, 1.0], resume=True)  # complete points are reused as they are
    assert [(root / p["run"] / "manifest.json").read_bytes() for p in series["points"]] == before
    # the command line: a single fraction is a plain run on that fraction of the data
    out = tmp_path / "one"
    args = [
        "finetune",
        "--config",
        str(_yaml(tmp_path, cfg)),
        "--output",
        str(out),
        "--train-fraction",
        "0.5",
    ]
    assert main(args) == 0
    assert json.loads((out / "metrics.json").read_text())["train"]["examples"] == 32


def _yaml(tmp_path, cfg):
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if k != "output"}))
    return path


@pytest.mark.slow
def test_the_pipeline_draws_the_curve_with_and_without_tapt(ner_data, tiny_backbone, tmp_path):
    train = {
        "batch_size": 8,
        "threads": 1,
        "progress": False,
        "max_steps": 2,
        "eval_steps": 2,
        "save_steps": 2,
    }
    spec = {
        "name": "curve",
        "output": str(tmp_path / "out"),
        "model": str(tiny_backbone),
        "stages": [
            {
                "name": "data",
                "kind": "prepare",
                "config": {
                    "files": {"train": str(ner_data["train"]), "dev": str(ner_data["dev"])},
                    "text_of": {"raw": "train"},
                },
            },
            {
                "name": "tapt",
                "kind": "pretrain",
                "config": {
                    "data": {"corpus": ["${data.raw}"], "seq_len": 32},
                    "train": {**train, "lr": 1e-3},
                },
            },
            {
                "name": "curve",
                "kind": "learning_curve",
                "from": ["base", "tapt"],
                "config": {
                    "fractions": [0.5, 1.0],
                    "task": {"name": "ner"},
                    "data": {"train": "${data.train}", "dev": "${data.dev}", "max_length": 64, "stride": 16},
                    "train": {**train, "lr": 3e-3},
                },
            },
        ],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    Pipeline.load(path).run(serve=False, progress=False)
    curve = json.loads((tmp_path / "out" / "curve" / "learning_curve.json").read_text())
    assert [s["name"] for s in curve["series"]] == ["base", "tapt"]
    assert curve["series"][0]["model"] == str(tiny_backbone)
    assert curve["series"][1]["model"] == str(tmp_path / "out" / "tapt")
    tapt_run = json.loads(
        (tmp_path / "out" / "curve" / "tapt" / "fraction-0.5" / "manifest.json").read_text()
    )
    assert tapt_run["parent"] == str((tmp_path / "out" / "tapt").resolve())
    assert (tmp_path / "out" / "curve" / "report.html").is_file()
    # the pipeline's second run reuses the curve
    assert {s.stage.name: s.action for s in Pipeline.load(path).plan()}["curve"] == "skip"


def test_small_fractions_train_at_least_min_steps(ner_config, tmp_path):
    from rawtune.data.splits import at_least_steps

    base = ner_config(tmp_path / "r", train={"epochs": 1})
    base["train"].pop("max_steps")
    cfg = load_config("finetune", base=base)
    # 64 training sentences, batch 8: 25 % is 2 steps an epoch, all of it 8
    assert at_least_steps(cfg, 0.25, 64, 5).train.max_steps == 5
    assert at_least_steps(cfg, 1.0, 64, 5).train.max_steps is None  # 8 steps already
    assert at_least_steps(cfg, 0.25, 64, 0) is cfg
    fixed = load_config("finetune", base=ner_config(tmp_path / "r"))
    assert at_least_steps(fixed, 0.25, 64, 50).train.max_steps == 6  # an explicit max_steps is kept


def test_a_subset_missing_a_type_keeps_the_whole_label_set(ner_config, tmp_path):
    from transformers import AutoConfig

    from rawtune.stages.finetune import run_finetune

    cfg = ner_config(tmp_path / "tiny", train={"max_steps": 1})
    cfg["data"]["train_fraction"] = 0.02
    run = run_finetune(cfg)  # one training sentence: not every type, and dev has them all
    m = json.loads(run.metrics_json.read_text())
    assert m["train"]["examples"] == 1
    labels = set(AutoConfig.from_pretrained(run.model_dir).id2label.values())
    assert labels == {"O", *(f"{p}-{t}" for p in "BI" for t in ("PER", "ORG", "LOC", "MISC"))}
