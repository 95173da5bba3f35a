"""The fine-tuning contract: every task trains with finite, falling loss on a tiny model; the saved
model reloads to identical predictions; reports and metrics.json have the promised shape."""

from __future__ import annotations

import json

import pytest

from rawtune.stages.evaluate import evaluate_run
from rawtune.stages.finetune import run_finetune


def _train_losses(run) -> list[float]:
    return [r["loss"] for r in run.read_metrics() if r["kind"] == "train"]


def test_ner_trains_reports_and_reloads_identically(ft_config, ner_data):
    run = run_finetune(
        ft_config(
            task={"name": "ner"},
            data={
                "train": str(ner_data["train"]),
                "dev": str(ner_data["dev"]),
                "test": str(ner_data["test"]),
            },
        )
    )
    losses = _train_losses(run)
    assert all(x == x and x < float("inf") for x in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # it learns
    m = json.loads(run.metrics_json.read_text())
    assert m["task"] == "ner"
    for split in ("dev", "test"):
        for key in ("f1", "precision", "recall", "per_type", "token_report"):
            assert key in m[split], (split, key)
        assert "B-PER" in m[split]["token_report"]
    assert (run.eval_dir / "dev" / "report.md").is_file()
    assert (run.eval_dir / "report.md").is_file()
    # the saved model is the selected one: evaluating it again gives exactly the reported numbers
    again, out = evaluate_run(str(run.path), str(ner_data["dev"]), name="dev-again")
    assert again["f1"] == m["dev"]["f1"]
    assert again["token_report"] == m["dev"]["token_report"]
    assert (out / "report.json").is_file()
    # model/ loads with plain transformers and carries the label maps
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(run.model_dir)
    assert model.config.id2label[0] == "O"
    assert set(model.config.label2id) == {
        "O",
        "B-PER",
        "I-PER",
        "B-ORG",
        "I-ORG",
        "B-LOC",
        "I-LOC",
        "B-MISC",
        "I-MISC",
    }


def test_classification_trains_and_reports(ft_config, cls_data):
    run = run_finetune(
        ft_config(
            task={"name": "classification"},
            data={"train": str(cls_data["train"]), "dev": str(cls_data["dev"])},
            # a random 2-layer BERT needs a few dozen steps before the [CLS] pooler carries signal
            train={"epochs": 12, "batch_size": 16, "lr": 5e-3, "eval_steps": 6, "save_steps": 6},
        )
    )
    losses = _train_losses(run)
    assert sum(losses[-3:]) < sum(losses[:3]) / 2
    m = json.loads(run.metrics_json.read_text())
    assert m["dev"]["accuracy"] >= 0.9
    assert m["task"] == "classification"
    for key in ("accuracy", "macro_f1", "per_class", "confusion"):
        assert key in m["dev"]
    assert set(m["dev"]["per_class"]) == {"neg", "pos"}
    again, _ = evaluate_run(str(run.path), str(cls_data["dev"]))
    assert again["accuracy"] == m["dev"]["accuracy"]


def test_pairs_train_with_both_segments(ft_config, pair_data):
    run = run_finetune(
        ft_config(
            task={"name": "pairs"},
            data={"train": str(pair_data["train"]), "dev": str(pair_data["dev"]), "text_column": "text_a"},
        )
    )
    m = json.loads(run.metrics_json.read_text())
    assert m["task"] == "pairs" and "macro_f1" in m["dev"]
    from rawtune.serve.predictor import Predictor

    pred = Predictor.from_run(run.path)
    out = pred.predict([{"text": "the film was good", "text_b": "the film was good"}])
    assert out[0]["label"] in ("same", "different")
    assert abs(sum(out[0]["scores"].values()) - 1.0) < 1e-5


@pytest.mark.parametrize("kind", ["multi", "regression"])
def test_multilabel_and_regression(ft_config, tmp_path, kind):
    rows = []
    for i in range(32):
        if kind == "multi":
            label = ["a", "a|b", "b", "c"][i % 4]
        else:
            label = str(i % 4 / 4)
        rows.append(json.dumps({"text": f"item {['x', 'y', 'z', 'w'][i % 4]} number {i}", "label": label}))
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(rows) + "\n")
    run = run_finetune(
        ft_config(
            task={"name": "classification", "label_kind": kind},
            data={"train": str(path), "dev": str(path)},
        )
    )
    m = json.loads(run.metrics_json.read_text())
    assert ("micro_f1" if kind == "multi" else "pearson") in m["dev"]
    losses = _train_losses(run)
    assert all(x == x for x in losses)
