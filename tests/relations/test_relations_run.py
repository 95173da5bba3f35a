"""`rawtune finetune --task relations` end to end on the tiny backbone: it trains through the CLI and
the one loop, writes metrics and reports, reloads with plain transformers, `evaluate` reproduces the
numbers, and predictions (Python, `rawtune predict`, HTTP, the NER pipeline) give back the input
text without markers and mentions at exact offsets."""

from __future__ import annotations

import json

import pytest
import torch

from rawtune.cli.main import main
from rawtune.serve.predictor import Predictor
from rawtune.stages.evaluate import evaluate_run
from rawtune.stages.finetune import run_finetune

LABELS = ["no_relation", "born_in", "located_in", "works_for"]
TEXT = "Maria Lopez , who was born in Paris , joined Apex Motors in 2019 ."
ITEM = {
    "text": TEXT,
    "head": {"start": 0, "end": 11, "type": "PER"},
    "tail": {"start": 30, "end": 35, "type": "LOC"},
}


@pytest.fixture(scope="module")
def re_run(tmp_path_factory, tiny_backbone, re_data):
    out = tmp_path_factory.mktemp("re-run") / "run"
    argv = [
        "finetune",
        "--task", "relations",
        "--model", str(tiny_backbone),
        "--train", str(re_data["train"]),
        "--dev", str(re_data["dev"]),
        "--test", str(re_data["test"]),
        "--output", str(out),
        "--seed", "3",
        "--lr", "3e-3",
        "--data.max_length=64",
        "--data.stride=8",
        "--train.max_steps=16",
        "--train.eval_steps=8",
        "--train.save_steps=8",
        "--train.batch_size=16",
        "--train.threads=1",
        "--train.progress=false",
        "--train.log_steps=1",
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def test_cli_trains_reports_and_evaluate_reproduces(re_run, re_data):
    m = json.loads((re_run / "metrics.json").read_text())
    assert m["task"] == "relations" and m["selected_by"]["metric"] == "micro_f1"
    dev = m["dev"]
    assert 0.0 <= dev["micro_f1"] <= 1.0 and list(dev["per_class"]) == LABELS
    report = json.loads((re_run / "eval" / "test" / "report.json").read_text())
    assert report["task"] == "relations" and report["metrics"]["micro_f1"] == m["test"]["micro_f1"]
    md = (re_run / "eval" / "dev" / "report.md").read_text()
    assert "## Per relation" in md and "leave out `no_relation`" in md
    stats = json.loads((re_run / "data_stats.json").read_text())
    assert stats["train"]["entity_type_pairs"]["PER -> ORG"] > 0
    again, _ = evaluate_run(str(re_run), str(re_data["dev"]))
    assert again["micro_f1"] == dev["micro_f1"] and again["macro_f1"] == dev["macro_f1"]


def test_model_loads_with_transformers_and_matches_the_predictor(re_run):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(re_run / "model").eval()
    tok = AutoTokenizer.from_pretrained(re_run / "model")
    assert model.config.num_labels == 2 * len(LABELS)
    assert model.config.id2label[0] == "E1:no_relation" and model.config.id2label[4] == "E2:no_relation"
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)  # resized for the markers
    marked = "[E1:PER] Maria Lopez [/E1:PER] , who was born in [E2:LOC] Paris [/E2:LOC] , joined Apex Motors in 2019 ."
    enc = tok(marked, return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    h, t = ids.index(tok.convert_tokens_to_ids("[E1:PER]")), ids.index(tok.convert_tokens_to_ids("[E2:LOC]"))
    with torch.no_grad():
        logits = model(**enc).logits[0]
    n = len(LABELS)
    probs = (logits[h, :n] + logits[t, n:]).softmax(-1)  # the documented recipe
    rec = Predictor.from_run(re_run).predict([ITEM])[0]
    assert rec["scores"] == {lab: pytest.approx(float(p), abs=1e-5) for lab, p in zip(LABELS, probs)}


def test_predictions_restore_the_text_and_map_spans_back(re_run, re_data, tmp_path):
    pred = Predictor.from_run(re_run)
    tokens = TEXT.split()
    as_tokens = {
        "tokens": tokens,
        "head": {"start": 0, "end": 2, "type": "PER"},
        "tail": {"start": 10, "end": 12, "type": "ORG"},
    }
    a, b = pred.predict([ITEM, as_tokens])
    assert a["text"] == TEXT and "[E" not in json.dumps(a) and "[E" not in json.dumps(b)
    assert a["head"] == {"text": "Maria Lopez", "type": "PER", "start": 0, "end": 11}
    assert TEXT[a["tail"]["start"] : a["tail"]["end"]] == a["tail"]["text"] == "Paris"
    assert b["tokens"] == tokens and b["tail"] == {
        "text": "Apex Motors",
        "type": "ORG",
        "start": 10,
        "end": 12,
    }
    assert " ".join(tokens[b["head"]["start"] : b["head"]["end"]]) == b["head"]["text"]
    for r in (a, b):
        assert r["label"] in LABELS and sum(r["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert r["score"] == max(r["scores"].values())
    out = tmp_path / "pred.jsonl"
    assert (
        main(["predict", str(re_run), "--input", str(re_data["test"]), "--output", str(out), "--no-progress"])
        == 0
    )
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    gold = [json.loads(line) for line in re_data["test"].read_text().splitlines()]
    assert len(recs) == len(gold) and recs[2]["source"].endswith("test.jsonl:3")
    assert all(
        r["tokens"] == g["tokens"] and r["head"]["start"] == g["head"]["start"] for r, g in zip(recs, gold)
    )


def test_http_takes_relation_inputs(re_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rawtune.serve.app import create_app

    with TestClient(create_app(Predictor.from_run(re_run))) as client:
        r = client.post("/v1/models/default/predict", json={"relations": [ITEM]})
        assert r.status_code == 200, r.text
        rec = r.json()["predictions"][0]
        assert rec["head"]["text"] == "Maria Lopez" and rec["label"] in LABELS
        assert client.post("/v1/models/default/predict", json={"texts": [TEXT]}).status_code == 422
        bad = {**ITEM, "tail": {"start": 5, "end": 99}}
        r = client.post("/v1/models/default/predict", json={"relations": [bad]})
        assert r.status_code == 422 and "out of range" in r.text
        info = client.get("/v1/models").json()["models"][0]
        assert info["task"] == "relations" and info["labels"] == LABELS


def test_lora_trains_and_reloads(re_config, re_data):
    run = run_finetune(re_config(tuning={"method": "lora"}, train={"max_steps": 4, "eval_steps": 4}))
    m = json.loads(run.metrics_json.read_text())
    assert m["train"]["parameters"]["trainable"] < m["train"]["parameters"]["total"] / 2
    assert (run.path / "adapter" / "rawtune_adapter.json").is_file()
    again, _ = evaluate_run(str(run.path), str(re_data["dev"]))
    assert again["micro_f1"] == m["dev"]["micro_f1"]
    # several runs, adapters not merged: a relations run still loads RUN/model/ (its marker embeddings)
    pred = Predictor.from_runs({"re": run.path})
    assert pred.predict([ITEM])[0]["head"]["text"] == "Maria Lopez"
    # the marker embeddings trained (peft trainable tokens); every other row is the base model's
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from rawtune.tasks.relation_markers import marker_ids

    ids = marker_ids(AutoTokenizer.from_pretrained(run.model_dir))
    adapter = load_file(run.path / "adapter" / "adapter_model.safetensors")
    start = next(v for k, v in adapter.items() if k.endswith("token_adapter.base_layer.weight"))
    final = load_file(run.model_dir / "model.safetensors")["bert.embeddings.word_embeddings.weight"]
    others = [i for i in range(len(final)) if i not in set(ids)]
    assert len(ids) >= 4 and torch.equal(final[others], start[others])
    assert all(not torch.allclose(final[i], start[i]) for i in ids)


def test_adapter_only_methods_are_refused(re_config):
    from rawtune.errors import ConfigError

    with pytest.raises(ConfigError, match="entity-marker embeddings"):
        run_finetune(re_config(tuning={"method": "prompt"}, train={"max_steps": 1}))


class StubNer:
    """A NER 'run' that finds fixed mentions (its offsets are known exactly)."""

    class task:
        name = "ner"
        entities = True  # it tags entities (Task.entities)

    run_path = "stub"

    def predict(self, texts, batch_size=32):
        out = []
        for text in texts:
            ents = []
            for name, kind in (
                ("Maria Lopez", "PER"),
                ("Paris", "LOC"),
                ("Apex Motors", "ORG"),
                ("Kenji Mori", "PER"),
            ):
                at = text.find(name)
                if at >= 0:
                    ents.append(
                        {"type": kind, "text": name, "start": at, "end": at + len(name), "score": 0.9}
                    )
            out.append({"text": text, "entities": ents})
        return out


def test_pipeline_classifies_candidate_pairs_with_offsets_into_the_line(re_run):
    from rawtune.serve.relation_pipeline import RelationPipeline

    line = "Yesterday  Maria Lopez , who was born in Paris , joined Apex Motors ; Kenji Mori too ."
    pipe = RelationPipeline(Predictor.from_run(re_run), StubNer(), keep_none=True)
    (rec,) = pipe.predict([line])
    assert rec["text"] == line and len(rec["entities"]) == 4
    pairs = {(r["head"]["text"], r["tail"]["text"]) for r in rec["relations"]}
    # ordered pairs of distinct mentions whose type pair occurs in training (PER-PER never does)
    assert ("Maria Lopez", "Paris") in pairs and ("Paris", "Maria Lopez") in pairs
    assert ("Maria Lopez", "Kenji Mori") not in pairs
    assert len(pairs) == 10  # 4 mentions, 12 ordered pairs, minus the 2 PER-PER ones
    for r in rec["relations"]:
        for side in ("head", "tail"):
            m = r[side]
            assert line[m["start"] : m["end"]] == m["text"] and m["type"] is not None
    assert (
        len(
            RelationPipeline(Predictor.from_run(re_run), StubNer(), all_pairs=True, keep_none=True).predict(
                [line]
            )[0]["relations"]
        )
        == 12
    )
    found = RelationPipeline(Predictor.from_run(re_run), StubNer()).predict([line])[0]["relations"]
    assert all(r["label"] != "no_relation" for r in found)


def test_pipeline_cli_with_a_ner_run(re_run, ner_run, tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("Maria Lopez works for Apex Motors .\n\nAnna Kowalska was born in Paris .\n")
    out = tmp_path / "rel.jsonl"
    argv = [
        "predict",
        str(re_run),
        "--ner",
        str(ner_run.path),
        "--input",
        str(raw),
        "--output",
        str(out),
        "--no-progress",
        "--keep-none",
    ]
    assert main(argv) == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["source"].rsplit(":", 1)[1] for r in recs] == ["1", "3"]
    for r in recs:
        for rel in r["relations"]:
            assert r["text"][rel["head"]["start"] : rel["head"]["end"]] == rel["head"]["text"]
            assert r["text"][rel["tail"]["start"] : rel["tail"]["end"]] == rel["tail"]["text"]
    assert (
        main(
            [
                "predict",
                str(ner_run.path),
                "--ner",
                str(ner_run.path),
                "--input",
                str(raw),
                "--output",
                str(tmp_path / "x.jsonl"),
            ]
        )
        != 0
    )
    y, z = str(tmp_path / "y.jsonl"), str(tmp_path / "z.jsonl")
    assert main(["predict", str(re_run), "--input", str(raw), "--output", y]) != 0  # raw text needs --ner
    assert main(["predict", str(re_run), "--keep-none", "--input", str(raw), "--output", z]) != 0


def test_onnx_export_predicts_the_same_relations(re_run, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    assert main(["export", str(re_run), "--output", str(out), "--onnx"]) == 0
    onnx = Predictor.from_run(out)
    assert list(onnx.space.labels) == LABELS
    a, b = Predictor.from_run(re_run).predict([ITEM])[0], onnx.predict([ITEM])[0]
    assert a["label"] == b["label"] and a["head"] == b["head"]
    assert b["scores"] == {k: pytest.approx(v, abs=1e-4) for k, v in a["scores"].items()}


def test_continue_from_a_relations_run_and_untyped_balanced(re_run, re_config, tmp_path):
    from transformers import AutoTokenizer

    # a finished relations run as the backbone: its head and markers fit the same labels, no --reinit-head
    again = run_finetune(re_config(model={"name_or_path": str(re_run)}, output=str(tmp_path / "again"),
                                   train={"max_steps": 2, "eval_steps": 2}))  # fmt: skip
    assert json.loads(again.metrics_json.read_text())["dev"]["micro_f1"] >= 0.0
    untyped = run_finetune(re_config(task={"entity_markers": "untyped", "class_weights": "balanced"},
                                     output=str(tmp_path / "untyped"), train={"max_steps": 2, "eval_steps": 2}))  # fmt: skip
    added = AutoTokenizer.from_pretrained(untyped.path / "model").get_added_vocab()
    assert "[E1]" in added and not any(t.startswith("[E1:") for t in added)
    rec = Predictor.from_run(untyped.path).predict([ITEM])[0]
    assert rec["head"]["type"] == "PER" and rec["label"] in LABELS  # the type is reported, not marked


def test_pipeline_warns_about_ner_types_the_relations_run_never_saw(re_run, caplog):
    from rawtune.serve.relation_pipeline import RelationPipeline

    class MiscNer(StubNer):
        def predict(self, texts, batch_size=32):
            out = super().predict(texts)
            for rec in out:
                rec["entities"] = [
                    {**e, "type": "MISC"} if e["type"] == "LOC" else e for e in rec["entities"]
                ]
            return out

    pipe = RelationPipeline(Predictor.from_run(re_run), MiscNer(), keep_none=True)
    with caplog.at_level("WARNING", logger="rawtune"):
        (rec,) = pipe.predict([TEXT])
        pipe.predict([TEXT])
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1  # once
    assert "'MISC' never occurs" in caplog.records[0].getMessage()
    assert {(r["head"]["text"], r["tail"]["text"]) for r in rec["relations"]} == {
        ("Maria Lopez", "Apex Motors"),
        ("Apex Motors", "Maria Lopez"),
    }
