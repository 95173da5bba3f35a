"""`rawtune zeroshot` end to end with the packaged MiniLM: a complete run directory with the
metrics, the report and predictions; bad gold labels and refused models exit 2 naming the cause."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from rawtune.cli.main import main


@pytest.fixture
def topics(tmp_path) -> Path:
    rows = [
        ("the striker scored twice in the second half of the match", "sports"),
        ("the tennis champion won the final in straight sets", "sports"),
        ("our basketball team lost the game by three points", "sports"),
        ("add the garlic and simmer the tomato sauce for ten minutes", "food"),
        ("this chocolate cake needs butter, sugar and eggs", "food"),
        ("the restaurant serves fresh sushi and grilled fish", "food"),
        ("bake the bread until the crust is golden brown", "food"),
    ]
    path = tmp_path / "dev.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "sentence", "topic"])
        w.writerows((i, text, lab) for i, (text, lab) in enumerate(rows))
    return path


def _args(minilm_path, data, out, *extra):
    return [
        "zeroshot",
        "--model",
        str(minilm_path),
        "--data",
        str(data),
        "--output",
        str(out),
        "--text-column",
        "sentence",
        "--label-column",
        "topic",
        *extra,
    ]


def test_cli_writes_a_run_directory(minilm_path, topics, tmp_path, capsys):
    desc = tmp_path / "desc.yaml"
    desc.write_text(yaml.safe_dump({"sports": ["sports", "a game or a match"], "food": "food and cooking"}))
    out = tmp_path / "run"
    assert main(_args(minilm_path, topics, out, "--labels", "sports,food", "--descriptions", str(desc))) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    dev = metrics["dev"]
    assert dev["accuracy"] >= 6 / 7 and 0.0 <= dev["macro_f1"] <= 1.0
    assert dev["majority_baseline"] == pytest.approx(4 / 7) and dev["majority_label"] == "food"
    assert metrics["method"] == "embedding" and dev["n"] == 7
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["pooling"] == {"mode": "mean", "normalize": True}
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["stage"] == "zeroshot" and cfg["descriptions"]["food"] == ["food and cooking"]
    report = json.loads((out / "eval" / "dev" / "report.json").read_text())
    assert report["task"] == "classification" and report["metrics"]["accuracy"] == dev["accuracy"]
    assert (out / "eval" / "dev" / "report.md").is_file()
    preds = [
        json.loads(line) for line in (out / "eval" / "dev" / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(preds) == 7 and preds[0]["line"] == 2 and set(preds[0]["scores"]) == {"sports", "food"}
    assert sum(p["label"] == p["gold"] for p in preds) / 7 == pytest.approx(dev["accuracy"])
    assert "accuracy" in capsys.readouterr().out


def test_resolved_config_reproduces_the_run(minilm_path, topics, tmp_path):
    out = tmp_path / "run"
    assert main(_args(minilm_path, topics, out, "--labels", "sports,food")) == 0
    again = tmp_path / "again"
    assert main(["zeroshot", "--config", str(out / "config.yaml"), "--output", str(again)]) == 0
    first, second = (json.loads((p / "metrics.json").read_text())["dev"] for p in (out, again))
    assert first["accuracy"] == second["accuracy"]


def test_gold_label_not_in_labels_names_file_and_line(minilm_path, topics, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(minilm_path, topics, out, "--labels", "sports,politics")) == 2
    err = capsys.readouterr().err
    assert f"{topics}:5" in err and "'food'" in err
    assert not out.exists()  # refused before a run directory is made


def test_cloze_on_a_model_without_mlm_head_exits_2(minilm_path, topics, tmp_path, capsys):
    args = _args(minilm_path, topics, tmp_path / "run", "--labels", "sports,food", "--scoring", "cloze")
    assert main([*args, "--verbalizer", "sports=sport,food=food"]) == 2
    assert "no masked-LM head" in capsys.readouterr().err


def test_unlabeled_file_is_scored(minilm_path, tmp_path):
    data = tmp_path / "texts.jsonl"
    data.write_text('{"text": "the match ended in a draw"}\n{"text": "bake the cake for an hour"}\n')
    out = tmp_path / "run"
    args = ["zeroshot", "--model", str(minilm_path), "--data", str(data), "--output", str(out)]
    assert main([*args, "--labels", "sports,cooking"]) == 0
    dev = json.loads((out / "metrics.json").read_text())["dev"]
    assert dev["n"] == 2 and "accuracy" not in dev
    preds = [
        json.loads(line) for line in (out / "eval" / "dev" / "predictions.jsonl").read_text().splitlines()
    ]
    assert [p["label"] for p in preds] == ["sports", "cooking"]
