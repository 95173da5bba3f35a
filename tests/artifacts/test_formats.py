"""The format table names the form of every directory a run's model can be saved in (on the runs an
older rawtune wrote), `load_run` gives what `Predictor` gives, and what loads nothing says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rawtune.artifacts.formats import FORMATS, load_model, model_format
from rawtune.artifacts.loaded import FINETUNE_CONFIG, finetune_config
from rawtune.artifacts.run import load_run
from rawtune.errors import ModelError, RunDirError

OLD = Path(__file__).resolve().parent / "old_runs"
EXPECTED = json.loads((OLD / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("directory", "form"),
    [
        ("ner/model", "plain"),
        ("cls-lora/model", "plain"),  # the merged model of an adapter run
        ("cls-lora/adapter", "adapter"),
        ("cls-adapter/adapter", "adapter"),
        ("ner-int8/model", "int8"),
        ("ner-pruned/model", "pruned"),
        ("backbone", "plain"),
        ("cls-adapter", None),  # a run directory is not a model directory
    ],
)
def test_each_directory_has_its_form(directory, form):
    got = model_format(OLD / directory)
    assert (got.name if got else None) == form


def test_every_form_is_listed_once_with_what_writes_it():
    names = [f.name for f in FORMATS]
    assert names == ["onnx", "int8", "adapter", "pruned", "plain"]
    assert all(f.written_by and f.mark for f in FORMATS)


def test_a_directory_without_a_model_says_what_it_lacks(tmp_path):
    with pytest.raises(ModelError, match=r"rawtune_quantized\.json.*config\.json"):
        load_model(tmp_path, "AutoModelForTokenClassification")


def test_compressed_runs_use_their_parents_finetune_config():
    assert finetune_config(OLD / "ner-int8") == OLD / "ner-int8" / FINETUNE_CONFIG
    assert finetune_config(OLD / "ner") == OLD / "ner" / "config.yaml"


@pytest.mark.parametrize("run", ["ner", "ner-int8", "cls-lora"])
def test_load_run_predicts_as_the_old_rawtune_did(run):
    want = EXPECTED["predict"][run]
    loaded = load_run(OLD / run, device="cpu")
    assert loaded.run_path == OLD / run and loaded.task.name == loaded.cfg.task.name
    got = json.loads(json.dumps(loaded.predict(want["inputs"])))
    assert [r.get("tags", r.get("label")) for r in got] == [
        r.get("tags", r.get("label")) for r in want["from_run"]
    ]


def test_not_a_run_is_refused_with_its_path(tmp_path):
    with pytest.raises(RunDirError, match=f"{tmp_path}: not a finished rawtune finetune run"):
        load_run(tmp_path, device="cpu")
    with pytest.raises(RunDirError, match="base= needs a run with an adapter"):
        load_run(OLD / "ner", device="cpu", base=str(OLD / "backbone"))
