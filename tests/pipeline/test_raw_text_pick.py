"""The recipe that chooses for the user: a `choose` stage keeps the option with the best dev metric,
the baseline (listed first) on a tie or a gain within `min_gain`; the packaged `raw-text-pick`
preset runs plain fine-tuning, adapted pretraining, self-training and both on tiny models, keeps
the best, and its report says what each bought."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rawtune.errors import ConfigError, DataError
from rawtune.pipeline.choice_kinds import choose


def _run(root: Path, name: str, dev: dict, metric: str = "f1", greater: bool = True, test=None) -> str:
    run = root / name
    run.mkdir(parents=True)
    m = {"dev": dev, "selected_by": {"metric": metric, "greater_is_better": greater}}
    if test is not None:
        m["test"] = test
    (run / "metrics.json").write_text(json.dumps(m))
    return str(run)


def test_the_best_dev_metric_wins_and_the_reason_says_by_how_much(tmp_path):
    runs = {
        "plain": _run(tmp_path, "plain", {"f1": 0.70}),
        "tapt": _run(tmp_path, "tapt", {"f1": 0.74}, test={"f1": 0.72}),
        "st": _run(tmp_path, "st", {"f1": 0.72}),
    }
    c = choose(runs)
    assert c["winner"] == {"name": "tapt", "run": runs["tapt"], "f1": 0.74}
    assert [round(o["gain"], 6) for o in c["options"]] == [0.0, 0.04, 0.02]
    assert c["baseline"] == "plain" and c["options"][1]["test"] == 0.72
    assert c["reason"] == "tapt has the best dev f1, 0.7400: +4.00 points over plain (dev f1 0.7000)"


def test_the_baseline_wins_ties_losses_and_gains_within_min_gain(tmp_path):
    runs = {"plain": _run(tmp_path, "plain", {"f1": 0.70}), "tapt": _run(tmp_path, "tapt", {"f1": 0.70})}
    assert choose(runs)["winner"]["name"] == "plain"
    runs["st"] = _run(tmp_path, "st", {"f1": 0.65})
    c = choose(runs)
    assert (
        c["winner"]["name"] == "plain" and c["reason"] == "no option beat plain (dev f1 0.7000); it is kept"
    )
    runs["both"] = _run(tmp_path, "both", {"f1": 0.704})
    c = choose(runs, min_gain=0.005)
    assert c["winner"]["name"] == "plain" and "beat plain (dev f1 0.7000) by +0.40 points" in c["reason"]
    assert choose(runs, min_gain=0.001)["winner"]["name"] == "both"


def test_a_metric_where_lower_is_better(tmp_path):
    runs = {
        "plain": _run(tmp_path, "plain", {"mse": 2.0}, "mse", False),
        "tapt": _run(tmp_path, "tapt", {"mse": 1.5}, "mse", False),
    }
    c = choose(runs)
    assert c["winner"]["name"] == "tapt" and c["options"][1]["gain"] == 0.5 and "+0.5000 over" in c["reason"]


def test_options_that_cannot_be_compared_are_refused_naming_them(tmp_path):
    plain = _run(tmp_path, "plain", {"f1": 0.7})
    with pytest.raises(DataError, match=r"different metrics .*plain: f1, loss: accuracy"):
        choose({"plain": plain, "loss": _run(tmp_path, "acc", {"accuracy": 0.9}, "accuracy")})
    with pytest.raises(DataError, match=r"option 'none' has no dev metrics"):
        choose({"plain": plain, "none": _run(tmp_path, "none", {})})
    with pytest.raises(DataError, match=r"option 'gone': no readable metrics\.json"):
        choose({"plain": plain, "gone": str(tmp_path / "gone")})


def test_a_choose_stage_without_options_is_a_config_error(tmp_path):
    from rawtune.pipeline.spec import validate_pipeline

    data = {
        "output": str(tmp_path / "p"),
        "stages": [{"name": "pick", "kind": "choose"}],
    }
    from rawtune.pipeline.runner import Pipeline

    pipe = Pipeline(validate_pipeline(data, "p.yaml", {}), "p.yaml")
    with pytest.raises(ConfigError, match=r"pick\.from: list the stages to compare"):
        pipe.plan()


def _tiny_preset(tmp_path: Path, backbone: Path, ner: dict[str, Path]) -> dict:
    """`raw-text-pick` as packaged, on the tiny backbone and the NER sample, at a budget of seconds."""
    from rawtune.pipeline import presets

    data = yaml.safe_load(presets.text("raw-text-pick"))
    data.update(output=str(tmp_path / "pick"), model=str(backbone), seed=3)
    stages = {s["name"]: s for s in data["stages"]}
    files = {"raw": ner["unlabeled"], "train": ner["train"], "dev": ner["dev"], "test": ner["test"]}
    stages["data"]["config"]["files"] = {k: str(v) for k, v in files.items()}
    quick = {"threads": 1, "progress": False, "batch_size": 8, "warmup_ratio": 0.0}
    for name in ("dapt", "tapt"):
        stages[name]["config"]["data"].update(seq_len=32, validation_split=0.1)
        stages[name]["config"]["head_warmup"] = {"max_steps": 6, "eval_steps": 3, "lr": 3e-2}
        stages[name]["config"]["train"] = {**quick, "max_steps": 6, "eval_steps": 3, "lr": 2e-3}
    for name in ("plain", "adapted", "selftrain", "both"):
        cfg = stages[name]["config"]
        cfg["train"] = {**quick, "max_steps": 30, "eval_steps": 15, "save_steps": 15, "lr": 3e-3}
        cfg["data"].update(max_length=64, stride=16)
        if name in ("selftrain", "both"):
            cfg.update(max_unlabeled=80, select={"threshold": 0.1})
    return data


@pytest.mark.slow
def test_the_packaged_preset_keeps_the_best_option_and_reports_what_each_bought(
    tmp_path, tiny_backbone, ner_data
):
    from rawtune.pipeline.runner import Pipeline
    from rawtune.pipeline.spec import validate_pipeline

    data = _tiny_preset(tmp_path, tiny_backbone, ner_data)
    pipe = Pipeline(validate_pipeline(data, "raw-text-pick preset", {}), "raw-text-pick preset")
    state = pipe.run(serve=False, progress=False)
    assert state["status"] == "complete"
    root = tmp_path / "pick"
    choice = json.loads((root / "pick" / "choice.json").read_text())
    assert [o["name"] for o in choice["options"]] == ["plain", "adapted", "selftrain", "both"]
    dev = {
        "plain": root / "plain",
        "adapted": root / "adapted",
        "selftrain": Path(json.loads((root / "selftrain" / "selftrain.json").read_text())["best"]["run"]),
    }
    for name, run in dev.items():
        run = run if run.is_absolute() else root / name / run
        f1 = json.loads((run / "metrics.json").read_text())["dev"]["f1"]
        assert next(o for o in choice["options"] if o["name"] == name)["value"] == f1, name
    best = max(o["value"] for o in choice["options"])
    assert choice["winner"]["f1"] == best  # never below plain: plain is an option
    assert choice["winner"]["f1"] >= choice["options"][0]["value"]
    won = choice["winner"]["name"]
    if best == choice["options"][0]["value"]:
        assert won == "plain"
    # DAPT warmed the missing MLM head up first (the tiny backbone has none); TAPT, built on it, had one
    dapt = json.loads((root / "dapt" / "metrics.json").read_text())
    assert [p["phase"] for p in dapt["phases"]] == ["head", "full"]
    assert "phases" not in json.loads((root / "tapt" / "metrics.json").read_text())
    # the report: every option, its gain over plain, the winner and why
    html = (root / "report.html").read_text()
    assert "What each option bought" in html and choice["reason"].split(":")[0] in html
    assert '<span class="badge ok">winner</span>' in html and "baseline" in html
    # the stage a later stage would build on is the winner's run
    assert pipe._model_of("pick") == choice["winner"]["run"]
    # a second run reuses every stage
    again = pipe.run(serve=False, progress=False)
    assert all(s["skipped"] for s in again["stages"])


def test_the_preset_is_listed_and_every_stage_config_is_valid(tmp_path, tiny_backbone, ner_data, capsys):
    from rawtune.cli.main import main
    from rawtune.pipeline.runner import Pipeline
    from rawtune.pipeline.spec import validate_pipeline

    assert main(["config", "list"]) == 0
    assert "raw-text-pick" in capsys.readouterr().out
    data = _tiny_preset(tmp_path, tiny_backbone, ner_data)
    steps = Pipeline(validate_pipeline(data, "raw-text-pick", {}), "raw-text-pick").plan()
    assert [s.stage.name for s in steps] == [
        "data", "plain", "dapt", "tapt", "adapted", "selftrain", "both", "pick",
    ]  # fmt: skip
    assert all(s.action == "run" for s in steps)
