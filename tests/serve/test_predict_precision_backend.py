"""`rawtune predict --dtype auto` (the default) casts to what `modeling.precision.resolve` decides for
the model's device and logs it; an ONNX or int8 model keeps its own precision. `--backend onnx-int8`
predicts through a per-channel int8 ONNX export built once into the cache and reused, with records
of the torch backend's shape and mostly its labels. `serve --dtype` follows the same rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rawtune.cli.main import main
from rawtune.errors import ConfigError, ModelError
from rawtune.modeling.precision import Choice
from rawtune.serve.predictor import Predictor

NER_TEXTS = ["Maria Lopez flew to Paris .", "The bank in Berlin hired John Smith .", "quiet day"]
CLS_TEXTS = ["the film was good and great", "the meal was awful and dull", "the show was fine"]


@pytest.fixture(scope="module")
def ner_run(ner_run) -> str:  # the session's tiny NER run, as a path
    return str(ner_run.path)


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory, tiny_backbone, cls_data) -> str:
    from rawtune.stages.finetune import run_finetune

    out = tmp_path_factory.mktemp("cls-run") / "run"
    cfg = {
        "output": str(out),
        "seed": 3,
        "model": {"name_or_path": str(tiny_backbone)},
        "task": {"name": "classification"},
        "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"]), "max_length": 32, "stride": 8},
        "train": {"max_steps": 6, "batch_size": 8, "lr": 3e-3, "threads": 1, "progress": False},
    }
    return str(run_finetune(cfg).path)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rawtune-cache")


def _params_dtype(pred: Predictor):
    return {p.dtype for p in pred.model.parameters() if p.is_floating_point()}


@pytest.mark.parametrize("decided", ["fp32", "bf16"])
def test_auto_casts_to_what_resolve_decides(ner_run, monkeypatch, decided):
    import torch

    monkeypatch.setenv("RAWTUNE_PRECISION", decided)
    pred = Predictor.from_run(ner_run, dtype="auto", device="cpu")
    assert _params_dtype(pred) == {torch.bfloat16 if decided == "bf16" else torch.float32}


def test_auto_asks_resolve_about_the_models_device(ner_run, monkeypatch):
    import torch

    from rawtune.modeling import precision

    asked = []

    def fake(p, device="cpu"):
        asked.append((p, device))
        return Choice("bf16", "measured on this machine", 2.0, 1.0)

    monkeypatch.setattr(precision, "resolve", fake)
    pred = Predictor.from_run(ner_run, dtype="auto", device="cpu")
    assert asked == [("auto", "cpu")]
    assert _params_dtype(pred) == {torch.bfloat16}


def test_predict_defaults_to_auto_and_logs_the_choice(ner_run, tmp_path, capsys):
    text = tmp_path / "in.txt"
    text.write_text("\n".join(NER_TEXTS) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", ner_run, "--input", str(text), "--output", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "precision fp32: RAWTUNE_PRECISION=fp32" in err  # tests/conftest.py pins fp32
    assert len(out.read_text().splitlines()) == 3


def test_bf16_predicts_nearly_the_fp32_tags(ner_run, ner_data):
    words = [ln.split()[0] for ln in ner_data["dev"].read_text().splitlines() if ln and ln[0] != "-"]
    texts = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    fp32 = Predictor.from_run(ner_run, device="cpu").predict(texts)
    bf16 = Predictor.from_run(ner_run, device="cpu", dtype="bf16").predict(texts)
    pairs = [(a, b) for x, y in zip(fp32, bf16) for a, b in zip(x["tags"], y["tags"])]
    assert len(pairs) == len(words)
    assert sum(a == b for a, b in pairs) / len(pairs) >= 0.9


def test_evaluate_scores_what_predict_writes_under_auto(ner_run, ner_data, tmp_path, monkeypatch):
    from seqeval.metrics import f1_score

    from rawtune.data.readers.labeled import read_token_file

    monkeypatch.setenv("RAWTUNE_PRECISION", "bf16")  # a machine where auto picks bf16
    dev = str(ner_data["dev"])
    out = tmp_path / "pred.jsonl"
    assert main(["predict", ner_run, "--input", dev, "--output", str(out), "--no-progress"]) == 0
    tags = [json.loads(line)["tags"] for line in out.read_text().splitlines()]
    assert main(["evaluate", ner_run, "--data", dev, "--output", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "dev" / "report.json").read_text())["metrics"]
    gold = [ex.tags for ex in read_token_file(dev).examples]
    assert f1_score(gold, tags, mode="strict") == pytest.approx(metrics["f1"])


def _predict(run: str, texts: list[str], out: Path, *flags: str) -> list[dict]:
    src = out.with_suffix(".txt")
    src.write_text("\n".join(texts) + "\n")
    assert main(["predict", run, "--input", str(src), "--output", str(out), "--no-progress", *flags]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("which", ["ner", "cls"])
def test_onnx_int8_backend_predicts_like_torch_and_reuses_its_export(
    which, ner_run, cls_run, cache, tmp_path, monkeypatch, capsys
):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("RAWTUNE_CACHE", str(cache))
    run, texts = (ner_run, NER_TEXTS) if which == "ner" else (cls_run, CLS_TEXTS)
    torch_recs = _predict(run, texts, tmp_path / "torch.jsonl")
    int8 = _predict(run, texts, tmp_path / "int8.jsonl", "--backend", "onnx-int8")
    assert "onnx-int8 (built" in capsys.readouterr().err
    assert [sorted(r) for r in int8] == [sorted(r) for r in torch_recs]  # the same record shape
    if which == "ner":
        pairs = [(a, b) for x, y in zip(torch_recs, int8) for a, b in zip(x["tags"], y["tags"], strict=True)]
    else:
        pairs = [(x["label"], y["label"]) for x, y in zip(torch_recs, int8)]
    assert sum(a == b for a, b in pairs) / len(pairs) >= 0.8

    from rawtune.export import runs as export_runs

    def no_export(*a, **k):
        raise AssertionError("the cached export should be reused")

    monkeypatch.setattr(export_runs, "export_run_onnx", no_export)
    again = _predict(run, texts, tmp_path / "again.jsonl", "--backend", "onnx-int8")
    drop = lambda recs: [{k: v for k, v in r.items() if k != "source"} for r in recs]  # noqa: E731
    assert drop(again) == drop(int8)
    assert "onnx-int8 (reused" in capsys.readouterr().err


def test_auto_on_an_onnx_export_keeps_its_precision(ner_run, cache, monkeypatch):
    pytest.importorskip("onnxruntime")
    from rawtune.serve.onnx_int8 import onnx_int8_dir

    monkeypatch.setenv("RAWTUNE_CACHE", str(cache))
    monkeypatch.setenv("RAWTUNE_PRECISION", "bf16")  # auto would cast a torch model
    export = onnx_int8_dir(ner_run)
    pred = Predictor.from_run(export, dtype="auto")
    assert type(pred.model).__name__ == "OnnxModel"
    assert [len(r["tags"]) for r in pred.predict(NER_TEXTS)] == [len(t.split()) for t in NER_TEXTS]
    assert onnx_int8_dir(export) == export  # an ONNX export is used as it is
    with pytest.raises(ModelError, match="keeps its own precision"):
        Predictor.from_run(export, dtype="bf16")


def test_the_cache_key_follows_the_model_files(ner_run, tmp_path):
    import shutil

    pytest.importorskip("onnxruntime")
    from rawtune.serve.onnx_int8 import cache_key

    copy = tmp_path / "run"
    shutil.copytree(ner_run, copy)
    before = cache_key(copy)
    assert cache_key(copy) == before
    weights = next((copy / "model").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b"")  # rewritten: a new modification time
    import os

    os.utime(weights, ns=(1, 1))
    assert cache_key(copy) != before


def test_onnx_int8_backend_refuses_a_gpu_device(ner_run, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("quiet day\n")
    flags = ["--backend", "onnx-int8", "--device", "cuda"]
    assert main(["predict", ner_run, "--input", str(src), "--output", str(tmp_path / "o.jsonl"), *flags]) != 0
    assert "runs on the CPU" in capsys.readouterr().err


def test_serve_dtype_follows_the_backend():
    from rawtune.cli.serve_cmd import settings_from
    from rawtune.serve.backends import backend_dtype

    assert backend_dtype("torch", "auto") == "auto"
    assert backend_dtype("torch", "bf16") == "bf16"
    assert backend_dtype("onnx-int8", "auto") is None
    with pytest.raises(ConfigError, match="keeps its own precision"):
        backend_dtype("int8", "bf16")
    import argparse

    from rawtune.cli.serve_cmd import FLAGS

    args = argparse.Namespace(**{f: None for _, f, _ in FLAGS}, merged=None)
    assert settings_from(args).dtype == "auto"
    args.dtype = "bf16"
    assert settings_from(args).dtype == "bf16"
