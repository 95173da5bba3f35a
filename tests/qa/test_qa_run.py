"""`rawtune finetune --task qa` end to end on the tiny backbone: it trains through the CLI and the
one loop, writes metrics.json and reports, reloads, `evaluate` reproduces the reported numbers, and
predictions are spans of their contexts, in Python, from `rawtune predict`, and over HTTP."""

from __future__ import annotations

import json

import pytest

from rawtune.cli.main import main
from rawtune.runs.rundir import RunDir
from rawtune.serve.predictor import Predictor
from rawtune.stages.evaluate import evaluate_run
from rawtune.stages.finetune import run_finetune


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory, tiny_backbone, qa_data):
    out = tmp_path_factory.mktemp("qa-run") / "run"
    argv = [
        "finetune",
        "--task", "qa",
        "--model", str(tiny_backbone),
        "--train", str(qa_data["train"]),
        "--dev", str(qa_data["dev"]),
        "--output", str(out),
        "--seed", "3",
        "--lr", "3e-3",
        "--data.max_length=32",
        "--data.stride=8",
        "--train.max_steps=12",
        "--train.eval_steps=6",
        "--train.save_steps=6",
        "--train.batch_size=16",
        "--train.threads=1",
        "--train.progress=false",
        "--train.log_steps=1",
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def test_cli_trains_reports_and_evaluate_reproduces(qa_run, qa_data):
    m = json.loads((qa_run / "metrics.json").read_text())
    assert m["task"] == "qa"
    assert m["selected_by"]["metric"] == "f1"
    dev = m["dev"]
    assert 0.0 <= dev["exact_match"] <= dev["f1"] <= 100.0 and dev["total"] == 24
    assert "HasAns_f1" not in dev  # SQuAD v1: no breakdown
    # windows of 32 tokens: every context spans several, so there are more features than questions
    assert m["train"]["features"] > 2 * m["train"]["examples"]
    losses = [r["loss"] for r in RunDir(qa_run).read_metrics() if r["kind"] == "train"]
    assert sum(losses[-3:]) < sum(losses[:3])  # it learns
    report = json.loads((qa_run / "eval" / "dev" / "report.json").read_text())
    assert report["task"] == "qa" and report["metrics"]["f1"] == dev["f1"]
    md = (qa_run / "eval" / "dev" / "report.md").read_text()
    assert "exact_match" in md and "official SQuAD" in md
    again, _ = evaluate_run(str(qa_run), str(qa_data["dev_jsonl"]), name="dev-jsonl")
    assert again["exact_match"] == dev["exact_match"] and again["f1"] == dev["f1"]  # JSONL reads the same
    assert main(["evaluate", str(qa_run), "--data", str(qa_data["dev"]), "--report-name", "again"]) == 0
    assert json.loads((qa_run / "eval" / "again" / "report.json").read_text())["metrics"]["f1"] == dev["f1"]


def test_null_threshold_flag_is_refused_for_a_v1_run(qa_run, qa_data, tmp_path, capsys):
    out = tmp_path / "answers.jsonl"
    before = sorted(p.relative_to(qa_run) for p in qa_run.rglob("*"))
    for argv in (
        ["evaluate", str(qa_run), "--data", str(qa_data["dev"]), "--null-threshold", "1.5"],
        [
            "predict",
            str(qa_run),
            "--input",
            str(qa_data["dev"]),
            "--output",
            str(out),
            "--null-threshold=1.5",
        ],
    ):
        assert main(argv) == 2
        assert (
            "--null-threshold: applies only to qa runs trained with task.unanswerable=true"
            in capsys.readouterr().err
        )
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    assert sorted(p.relative_to(qa_run) for p in qa_run.rglob("*")) == before  # no report written


def test_model_dir_loads_with_transformers(qa_run):
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(qa_run / "model")
    assert model.config.id2label == {0: "start", 1: "end"}


def test_predictions_are_spans_of_their_context(qa_run, qa_data, tmp_path):
    pred = Predictor.from_run(qa_run)
    context = "the report was clear . anna lives in paris . the study showed a result . boris lives in rome ."
    items = [{"question": "where does boris live ?", "context": context}, ("where does anna live ?", context)]
    for rec in pred.predict(items):
        assert set(rec) == {"question", "context", "answer", "start", "end", "score"}
        assert rec["context"][rec["start"] : rec["end"]] == rec["answer"] != ""
        assert 0.0 <= rec["score"] <= 1.0
    out = tmp_path / "pred.jsonl"
    assert (
        main(
            [
                "predict",
                str(qa_run),
                "--input",
                str(qa_data["dev_jsonl"]),
                "--output",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 24 and recs[3]["source"].endswith("dev.jsonl:4")
    assert all(r["context"][r["start"] : r["end"]] == r["answer"] for r in recs)


def test_http_takes_questions(qa_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rawtune.serve.app import create_app

    context = "anna lives in paris . the report was clear ."
    with TestClient(create_app(Predictor.from_run(qa_run))) as client:
        r = client.post(
            "/v1/models/default/predict", json={"questions": [{"question": "where ?", "context": context}]}
        )
        assert r.status_code == 200, r.text
        rec = r.json()["predictions"][0]
        assert context[rec["start"] : rec["end"]] == rec["answer"]
        assert client.post("/v1/models/default/predict", json={"texts": ["where?"]}).status_code == 422
        bad = client.post("/v1/models/default/predict", json={"questions": [{"question": "q"}]})
        assert bad.status_code == 422
    from rawtune.config.serve import ServeConfig

    with TestClient(create_app(Predictor.from_run(qa_run), ServeConfig(max_chars=30))) as client:
        item = {"question": "where ?", "context": context}  # 44 characters of context
        r = client.post("/v1/models/default/predict", json={"questions": [item]})
        assert r.status_code == 422 and "questions[0].context has 44 characters" in r.text


@pytest.mark.parametrize("method", ["full", "lora", "ia3", "bitfit", "prefix", "adapter"])
def test_tuning_methods_train_and_reload(qa_config, qa_data, tiny_backbone, method):
    from transformers import AutoModelForQuestionAnswering

    from rawtune.tuning import apply
    from rawtune.tuning.base import tuning_options

    model = AutoModelForQuestionAnswering.from_pretrained(tiny_backbone)
    tuned = apply(model, tuning_options(method), base_ref=str(tiny_backbone))
    trainable = [n for n, p in tuned.model.named_parameters() if p.requires_grad]
    assert any("qa_outputs" in n for n in trainable)  # the start/end head always trains
    run = run_finetune(
        qa_config(tuning={"method": method}, train={"max_steps": 4, "eval_steps": 4, "save_steps": 4})
    )
    m = json.loads(run.metrics_json.read_text())
    assert m["train"]["parameters"]["trainable"] < m["train"]["parameters"]["total"] or method == "full"
    again, _ = evaluate_run(str(run.path), str(qa_data["dev"]))
    assert again["f1"] == m["dev"]["f1"]


def test_prompt_tuning_is_refused_for_qa(qa_config, tmp_path):
    from rawtune.errors import ConfigError

    with pytest.raises(ConfigError, match="prompt tuning does not support qa"):
        run_finetune(qa_config(tuning={"method": "prompt"}, train={"max_steps": 1}))


def test_compress_refuses_a_qa_run_before_writing(qa_run, tmp_path):
    out = tmp_path / "int8"
    assert main(["compress", str(qa_run), "--quantize", "int8", "--output", str(out)]) == 2
    assert not out.exists()
