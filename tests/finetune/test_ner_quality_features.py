"""The NER model features end to end on a tiny model: a CRF layer trains, saves and reloads; word
shapes are saved with the model and used again when it is loaded; document context follows the data's
boundaries (a warning, not silence, when asked for and absent); a JSONL document field is read."""

from __future__ import annotations

import json
import logging

import pytest

from rawtune.data.readers.labeled import read_token_file
from rawtune.stages.evaluate import evaluate_run
from rawtune.stages.finetune import run_finetune


def _ner(ft_config, ner_data, **task):
    data = {"train": str(ner_data["train"]), "dev": str(ner_data["dev"])}
    return ft_config(task={"name": "ner", **task}, data=data)


def test_crf_trains_saves_and_reloads_to_the_same_scores(ft_config, ner_data):
    run = run_finetune(_ner(ft_config, ner_data, crf=True))
    losses = [r["loss"] for r in run.read_metrics() if r["kind"] == "train"]
    assert all(x == x for x in losses) and sum(losses[-3:]) < sum(losses[:3])
    from safetensors import safe_open

    with safe_open(str(run.model_dir / "model.safetensors"), framework="pt") as f:
        assert {"crf.start", "crf.trans"} <= set(f.keys())
    m = json.loads(run.metrics_json.read_text())
    again, _ = evaluate_run(str(run.path), str(ner_data["dev"]), name="again")
    assert again["f1"] == m["dev"]["f1"] and again["token_report"] == m["dev"]["token_report"]
    # the learned transitions forbid invalid IOB2: predictions are valid sequences
    from rawtune.data.labels import is_valid_iob2
    from rawtune.serve.predictor import Predictor

    pred = Predictor.from_run(run.path)
    assert pred.model.crf is not None
    for rec in pred.predict(["Maria Lopez flew to Paris with Northwind Bank ."]):
        assert is_valid_iob2(rec["tags"]) is None


def test_word_shapes_saved_and_used_on_load(ft_config, ner_data):
    run = run_finetune(_ner(ft_config, ner_data, case_features=True))
    config = json.loads((run.model_dir / "config.json").read_text())
    assert config["word_shapes"][0] == "lower" and config["type_vocab_size"] == len(config["word_shapes"])
    from rawtune.serve.predictor import Predictor

    pred = Predictor.from_run(run.path)
    feats = pred.task.encode(
        pred.tokenizer, pred.task.read(str(ner_data["dev"])).examples[:3], pred.space, shapes=True
    )
    assert any(t > 0 for f in feats.features for t in f["token_type_ids"])
    m = json.loads(run.metrics_json.read_text())
    again, _ = evaluate_run(str(run.path), str(ner_data["dev"]), name="again")
    assert again["f1"] == m["dev"]["f1"]  # evaluation after loading feeds the shapes again


def test_no_word_shapes_when_the_tokenizer_keeps_case_or_when_off(ft_config, ner_data):
    run = run_finetune(_ner(ft_config, ner_data, case_features=False))
    assert "word_shapes" not in json.loads((run.model_dir / "config.json").read_text())


def test_doc_context_without_boundaries_warns(ft_config, ner_data, tmp_path, caplog):
    flat = tmp_path / "flat.conll"  # the sample without its -DOCSTART- lines
    flat.write_text(
        "".join(ln for ln in ner_data["train"].read_text().splitlines(True) if "DOCSTART" not in ln)
    )
    cfg = ft_config(task={"name": "ner"}, data={"train": str(flat), "doc_context": True})
    with caplog.at_level(logging.WARNING, logger="rawtune"):
        run_finetune(cfg)
    assert any(
        "no document boundaries" in r.getMessage() and "flat.conll" in r.getMessage() for r in caplog.records
    )


def test_jsonl_document_field(tmp_path):
    path = tmp_path / "docs.jsonl"
    rows = [
        {"tokens": ["Paris", "is", "big"], "tags": ["B-LOC", "O", "O"], "doc": "a"},
        {"tokens": ["Oslo", "too"], "tags": ["B-LOC", "O"], "doc": "a"},
        {"tokens": ["Lima"], "tags": ["B-LOC"], "doc": "b"},
        {"tokens": ["Rome"], "tags": ["B-LOC"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = read_token_file(str(path))
    assert [ex.doc for ex in data.examples] == [0, 0, 1, None] and data.n_docs == 2


@pytest.mark.slow
def test_documents_predicted_in_context_equal_evaluation(ft_config, ner_data, tmp_path):
    """A run trained with document context: what `evaluate` scored on a CoNLL file with -DOCSTART-
    documents, `Predictor.predict` gives for the same documents sent as lists of sentences, and the
    HTTP server for a `documents` request."""
    from rawtune.data.readers.labeled import read_token_file
    from rawtune.evaluation.metrics import ner_metrics
    from rawtune.serve.predictor import Predictor

    cfg = _ner(ft_config, ner_data)
    cfg["train"].update(epochs=12, lr=5e-3, eval_steps=1000, save_steps=1000)  # learns a little
    run = run_finetune(cfg)
    data = read_token_file(str(ner_data["dev"]))
    assert data.n_docs > 1
    m = json.loads(run.metrics_json.read_text())
    pred = Predictor.from_run(run.path)
    docs: dict[int, list[list[str]]] = {}
    for ex in data.examples:
        docs.setdefault(ex.doc, []).append(ex.tokens)
    records = pred.predict([{"sentences": sents} for sents in docs.values()])
    tags = [r["tags"] for rec in records for r in rec["sentences"]]
    scored = ner_metrics([list(ex.tags) for ex in data.examples], tags)
    assert scored["f1"] == m["dev"]["f1"] and scored["token_report"] == m["dev"]["token_report"]
    alone = [r["tags"] for r in pred.predict([ex.tokens for ex in data.examples])]
    assert alone != tags  # context changes what the model sees (the test would hold trivially otherwise)

    from fastapi.testclient import TestClient

    from rawtune.config.serve import ServeConfig
    from rawtune.serve.app import create_app

    texts = [[" ".join(s) for s in sents] for sents in docs.values()]
    with TestClient(create_app(pred, ServeConfig())) as client:
        r = client.post("/v1/models/default/predict", json={"documents": texts[:2]})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [len(d["sentences"]) for d in got] == [len(t) for t in texts[:2]]
    assert [s["tags"] for d in got for s in d["sentences"]] == tags[: sum(len(t) for t in texts[:2])]


@pytest.mark.parametrize(("flag", "value"), [("auto", "auto"), ("true", True), ("FALSE", False)])
def test_the_doc_context_flag_sets_the_config_key(flag, value):
    from rawtune.cli.finetune_cmd import SHORTCUTS
    from rawtune.cli.main import build_parser
    from rawtune.cli.overrides import collect_overrides
    from rawtune.config.loader import load_config

    argv = ["finetune", "--task", "ner", "--model", "m", "--train", "t.conll", "--output", "o"]
    args, extra = build_parser().parse_known_args([*argv, "--doc-context", flag])
    overrides = collect_overrides(args, extra, SHORTCUTS)
    assert overrides["data.doc_context"] == value
    assert load_config("finetune", overrides=overrides).data.doc_context == value
