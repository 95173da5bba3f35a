"""A new task is one module and one registration line: `toy_task.py` (kept here, outside rawtune)
defines "tone" with its own file format, options, loss, metric and records, and registers it with
`@register_task("tone")`. Nothing else changes, yet it reads, trains, evaluates, reports and
predicts through rawtune's own entry points, its options are checked like a built-in task's, and
its run's report and model card describe it."""

from __future__ import annotations

import json
import random

import pytest
import toy_task

import rawtune
from rawtune.config.loader import load_config
from rawtune.errors import ConfigError

GOOD = ("good", "great", "excellent", "lovely")
BAD = ("bad", "awful", "poor", "terrible")
NOUNS = ("service", "food", "room", "staff", "view")


def tone_file(path, n: int, seed: int):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        word = rng.choice(GOOD if label == "pos" else BAD)
        lines.append(f"{label}|The {rng.choice(NOUNS)} was {word}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tone_run(tmp_path_factory, tiny_backbone):
    root = tmp_path_factory.mktemp("tone")
    config = {
        "output": str(root / "run"),
        "seed": 1,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "tone", "lowercase": True},
        "data": {
            "train": str(tone_file(root / "train.txt", 48, 0)),
            "dev": str(tone_file(root / "dev.txt", 16, 1)),
        },
        "train": {"epochs": 6, "batch_size": 8, "lr": 3e-3, "eval_steps": 6, "threads": 1, "progress": False},
    }
    return rawtune.finetune(config), root


def test_toy_task_options_are_its_own():
    cfg = load_config("finetune", overrides={"task.name": "tone"}, require=False)
    assert type(cfg.task).__name__ == "ToneOptions" and cfg.task.lowercase is True
    with pytest.raises(ConfigError, match=r"task.n_best applies to task 'qa', not 'tone'"):
        load_config("finetune", overrides={"task.name": "tone", "task.n_best": 5}, require=False)
    with pytest.raises(ConfigError, match=r"task.lowercse: unknown key \(did you mean 'task.lowercase'\?\)"):
        load_config("finetune", overrides={"task.name": "tone", "task.lowercse": False}, require=False)


def test_toy_task_trains_evaluates_and_predicts(tone_run):
    run, root = tone_run
    metrics = json.loads(run.metrics_json.read_text())
    assert metrics["task"] == "tone"
    assert metrics["selected_by"] == {"metric": "accuracy", "greater_is_better": True}
    assert 0.0 <= metrics["dev"]["accuracy"] <= 1.0
    report = json.loads((run.eval_dir / "dev" / "report.json").read_text())
    assert report["task"] == "tone" and report["metrics"] == metrics["dev"]
    assert "| **accuracy** |" in (run.eval_dir / "dev" / "report.md").read_text()

    # evaluate scores what predict returns: one decode path
    again = rawtune.evaluate(str(run.path), str(root / "dev.txt"))
    assert again["accuracy"] == metrics["dev"]["accuracy"]
    predictor = rawtune.Predictor.from_run(run.path)
    dev = toy_task.ToneTask(load_config("finetune", file=run.config_path)).read(str(root / "dev.txt"))
    texts = [ex.text for ex in dev.examples]
    records = predictor.predict(["The FOOD was Great", *texts])
    assert records[0]["text"] == "the food was great" and records[0]["label"] in ("pos", "neg")
    right = sum(r["label"] == ex.label for r, ex in zip(records[1:], dev.examples))
    assert right / len(texts) == metrics["dev"]["accuracy"]


def test_toy_task_run_report_describes_it(tone_run):
    from rawtune.reporting.modelcard import intended_use
    from rawtune.reporting.runinfo import RunInfo

    run, _ = tone_run
    info = RunInfo.load(run.path)
    assert info.primary == "accuracy" and info.score("dev") is not None
    assert intended_use(info).startswith("Tells the tone of a text: neg, pos.")
    assert (run.path / "report.html").is_file()
