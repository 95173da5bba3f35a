"""`rawtune export RUN --onnx [--quantize int8]`: the ONNX graph, reloaded from disk in a fresh
onnxruntime session, gives PyTorch's logits (within 1e-4) at batch sizes and sequence lengths the export
never saw; the int8 graph agrees on the argmax; predict and evaluate run on the export dir with the
run's own decode path and give the PyTorch run's labels; nothing is written when a check fails."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from rawtune.artifacts.onnx import load_onnx_model
from rawtune.cli.main import main
from rawtune.errors import ModelError
from rawtune.export import onnx as onnx_export
from rawtune.export.onnx import export_onnx
from rawtune.export.parity import EXPORT_SHAPE, PROBE_SHAPES
from rawtune.serve.predictor import onnx_predictor
from rawtune.stages.finetune import run_finetune

TEST_SHAPES = ((4, 13), (2, 31), (6, 6))  # batch, sequence: neither the export's nor its probes'
TEXTS = [
    "Maria Lopez flew to Paris with Acme officials on Friday",
    "the show was superb and lovely",
    "Berlin",
    "the hotel was terrible and weak but the staff of Nordic Bank in Oslo were fine",
    "the meal was poor",
    "Peter Olsen",
]


def _run(ft_config, data, task, method="full", **train):
    return run_finetune(
        ft_config(
            task={"name": task},
            data={"train": str(data["train"]), "dev": str(data["dev"]), "max_length": 64, "stride": 16},
            tuning={
                "method": method,
                **({"num_virtual_tokens": 4} if method in ("prompt", "prefix") else {}),
            },
            train=train,
        )
    )


def _batches(tokenizer, names):
    """Padded batches at TEST_SHAPES (padding to exactly that length, longer texts truncated)."""
    assert not {EXPORT_SHAPE, *PROBE_SHAPES} & set(TEST_SHAPES)
    out = []
    for batch, length in TEST_SHAPES:
        texts = [TEXTS[i % len(TEXTS)] for i in range(batch)]
        enc = tokenizer(texts, padding="max_length", truncation=True, max_length=length, return_tensors="np")
        assert (enc["attention_mask"] == 0).any() or length == 6  # real padding in the longer ones
        batch = {n: enc[n].astype(np.int64) for n in names if n in enc}
        if "token_type_ids" in names and "token_type_ids" not in batch:  # word shapes (an uncased NER model)
            batch["token_type_ids"] = np.random.default_rng(length).integers(0, 7, enc["input_ids"].shape)
        out.append({n: batch[n] for n in names})
    return out


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _compare(torch_model, session, batches, per_token):
    diff, agree, total = 0.0, 0, 0
    for batch in batches:
        with torch.no_grad():
            ref = torch_model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
        (got,) = session.run(["logits"], batch)
        assert got.shape == ref.shape
        diff = max(diff, float(np.abs(got - ref).max()))
        same = got.argmax(-1) == ref.argmax(-1)
        if per_token:
            same = same[batch["attention_mask"] == 1]
        agree, total = agree + int(same.sum()), total + same.size
    return diff, agree / total


@pytest.mark.parametrize(
    "task,auto_class",
    [("ner", "AutoModelForTokenClassification"), ("classification", "AutoModelForSequenceClassification")],
)
@pytest.mark.slow
def test_onnx_export_matches_pytorch(ft_config, ner_data, cls_data, tmp_path, capsys, task, auto_class):
    import transformers

    data = ner_data if task == "ner" else cls_data
    run = _run(ft_config, data, task, epochs=12, lr=5e-3, eval_steps=32, save_steps=32)  # learns a little
    out = tmp_path / "onnx"
    assert main(["export", str(run.path), "--onnx", "--output", str(out)]) == 0
    for name in ("model.onnx", "config.json", "tokenizer.json", "rawtune_onnx.json", "finetune.yaml"):
        assert (out / name).is_file(), name
    assert not (out / "model.int8.onnx").exists()
    meta = json.loads((out / "rawtune_onnx.json").read_text())
    assert meta["model"] == "model.onnx" and meta["auto_class"] == auto_class and meta["exporter"] == "dynamo"
    assert meta["parity"]["fp32"]["max_abs_diff"]["logits"] <= 1e-4 and meta["opset"] >= 17

    # a fresh session from the file alone, at shapes the export never used
    torch_model = getattr(transformers, auto_class).from_pretrained(run.model_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    session = _session(out / "model.onnx")
    names = [i.name for i in session.get_inputs()]
    assert names == meta["inputs"]
    assert [i.shape[:2] for i in session.get_inputs()] == [["batch", "sequence"]] * len(names)
    diff, agreement = _compare(torch_model, session, _batches(tokenizer, names), task == "ner")
    assert diff <= 1e-4 and agreement == 1.0
    config = transformers.AutoConfig.from_pretrained(out)
    assert config.id2label == torch_model.config.id2label

    # predict and evaluate through the export dir: the run's labels and metrics
    assert (
        main(["predict", str(run.path), "--input", str(data["dev"]), "--output", str(tmp_path / "pt.jsonl")])
        == 0
    )
    assert (
        main(["predict", str(out), "--input", str(data["dev"]), "--output", str(tmp_path / "ox.jsonl")]) == 0
    )
    pt, ox = ((tmp_path / f).read_text().splitlines() for f in ("pt.jsonl", "ox.jsonl"))
    key = "tags" if task == "ner" else "label"
    labels = [json.loads(r)[key] for r in ox]
    assert labels == [json.loads(r)[key] for r in pt]
    assert len({str(x) for x in labels}) > 1  # not one constant answer
    if task == "classification":
        for a, b in zip(pt, ox):
            assert json.loads(a)["scores"] == pytest.approx(json.loads(b)["scores"], abs=1e-5)
    from rawtune.stages.evaluate import evaluate_run

    m_pt, _ = evaluate_run(str(run.path), str(data["dev"]), name="pt")
    m_ox, report = evaluate_run(str(out), str(data["dev"]), name="ox")
    primary = "f1" if task == "ner" else "accuracy"
    assert m_ox[primary] == m_pt[primary] and m_ox["loss"] == pytest.approx(m_pt["loss"], abs=1e-4)
    assert report == out / "eval" / "ox"

    # int8: model.int8.onnx is the export's model, model.onnx stays; argmax agrees with PyTorch
    q = tmp_path / "onnx-int8"
    assert main(["export", str(run.path), "--onnx", "--quantize", "int8", "--output", str(q)]) == 0
    meta = json.loads((q / "rawtune_onnx.json").read_text())
    assert meta["model"] == "model.int8.onnx" and meta["quantize"] == "int8"
    assert meta["parity"]["int8"]["argmax_agreement"] >= 0.99
    assert (q / "model.int8.onnx").stat().st_size < (q / "model.onnx").stat().st_size
    _, agreement = _compare(
        torch_model, _session(q / "model.int8.onnx"), _batches(tokenizer, names), task == "ner"
    )
    assert agreement >= 0.97  # the tiny model's logits are close together; the export's probes held 0.99
    assert load_onnx_model(q).path.name == "model.int8.onnx"

    # never overwrites
    capsys.readouterr()
    assert main(["export", str(run.path), "--onnx", "--output", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_quantize_and_opset_need_onnx(tmp_path, capsys):
    for flags in (["--quantize", "int8"], ["--opset", "18"]):
        assert main(["export", str(tmp_path / "run"), "--output", str(tmp_path / "x"), *flags]) == 2
        assert f"{flags[0]} applies to ONNX exports only: add --onnx" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):  # argparse: int8 is the one quantization
        main(
            ["export", str(tmp_path / "run"), "--onnx", "--quantize", "int4", "--output", str(tmp_path / "x")]
        )


@pytest.mark.slow
def test_unmergeable_adapter_exports_as_is(ft_config, ner_data, tmp_path, capsys, monkeypatch):
    """A prompt-tuned NER run has no model/: the base + virtual tokens (+ the wrapper that drops their
    logits) is exported, and predicts as the run does; where neither exporter can trace it, the error
    says why and nothing is written."""
    from rawtune.serve.predictor import Predictor

    run = _run(ft_config, ner_data, "ner", "prompt", max_steps=4, eval_steps=4, save_steps=4)
    assert not run.model_dir.exists()
    out = tmp_path / "onnx"
    assert main(["export", str(run.path), "--onnx", "--output", str(out)]) == 0
    meta = json.loads((out / "rawtune_onnx.json").read_text())
    assert meta["source"]["tuning"] == "prompt" and meta["source"]["dir"] == "adapter"
    texts = ["Maria Lopez met officials in Paris", "Berlin"]
    expected = [r["tags"] for r in Predictor.from_run(run.path).predict(texts)]
    assert [r["tags"] for r in onnx_predictor(out).predict(texts)] == expected
    assert [r["tags"] for r in Predictor.from_run(out).predict(texts)] == expected  # the usual entry point
    both = Predictor.from_runs({"torch": run.path, "onnx": out})
    assert [r["tags"] for r in both.predict(texts, adapter="onnx")] == expected

    def fails(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", fails)
    capsys.readouterr()
    assert main(["export", str(run.path), "--onnx", "--output", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "'prompt' adapter cannot be merged" in err and "failed with both exporters" in err
    assert "unsupported operator" in err and not (tmp_path / "no").exists()


@pytest.fixture
def seq_model(tiny_backbone):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_backbone, num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2}
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    tokenizer.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    return model.eval(), tokenizer


@pytest.mark.slow
def test_parity_failure_writes_nothing(seq_model, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "PARITY_ATOL", -1.0)
    with pytest.raises(ModelError, match="differ from PyTorch's"):
        export_onnx(*seq_model, tmp_path / "out")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(onnx_export, "PARITY_ATOL", 1e-4)
    with pytest.raises(ModelError, match="int8 ONNX model agrees"):
        export_onnx(*seq_model, tmp_path / "out", quantize="int8", min_agreement=1.01)
    assert list(tmp_path.iterdir()) == []


def test_torchscript_fallback_and_token_type_ids(seq_model, tmp_path, monkeypatch):
    """When torch.export cannot capture a model the TorchScript exporter is used (the parity check
    guards it alike); a tokenizer that gives token_type_ids makes them a graph input. An export not
    made from a run carries no fine-tuning config, and the predictor says so."""
    from rawtune.errors import RunDirError

    real = torch.onnx.export

    def no_dynamo(*args, **kwargs):
        if kwargs.get("dynamo", True):
            raise RuntimeError("cannot capture this model")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", no_dynamo)
    level = logging.getLogger("torch.onnx").level
    out = export_onnx(*seq_model, tmp_path / "out", opset=17)
    assert logging.getLogger("torch.onnx").level == level  # its notes were silenced for the export only
    meta = json.loads((out / "rawtune_onnx.json").read_text())
    assert meta["exporter"] == "torchscript" and meta["opset"] == 17
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    model, tokenizer = seq_model
    batch = tokenizer(["the film", "a"], ["was good", "bad and dull ."], padding=True, return_tensors="pt")
    assert batch["token_type_ids"].any()
    got = load_onnx_model(out, threads=1)(**batch).logits
    with torch.no_grad():
        assert torch.allclose(got, model(**batch).logits, atol=1e-4)
    with pytest.raises(RunDirError, match=r"no finetune\.yaml"):
        onnx_predictor(out)
