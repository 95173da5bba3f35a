"""`rawtune compress --quantize int8`: the int8 model round-trips from disk exactly, the compressed run
is used like any run (predict, evaluate), its metrics sit next to the parent's, and the gate rejects
a model outside its bounds with exit code 4 and a "rejected" run."""

from __future__ import annotations

import json

import pytest
import torch

from rawtune.cli.main import main
from rawtune.compress.gate import check
from rawtune.stages.finetune import run_finetune


def _compress(ner_run, out, *flags: str) -> int:
    args = ["compress", str(ner_run.path), "--quantize", "int8", "--output", str(out)]
    return main([*args, "--measure.repeats", "1", "--measure.probe_examples", "16", *flags])


def test_int8_round_trips_exactly(tiny_backbone, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from rawtune.artifacts.int8 import load_quantized, quantize_int8
    from rawtune.compress.quantize import save_quantized

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(tiny_backbone, num_labels=5).eval()
    q = quantize_int8(model)
    ids = torch.randint(5, 100, (3, 11))
    with torch.no_grad():
        fp32, int8 = model(input_ids=ids).logits, q(input_ids=ids).logits
    assert not torch.equal(fp32, int8) and torch.allclose(fp32, int8, atol=0.1)  # quantized, and close
    save_quantized(
        q, tmp_path, AutoTokenizer.from_pretrained(tiny_backbone), "AutoModelForTokenClassification"
    )
    back = load_quantized(tmp_path)
    with torch.no_grad():
        assert torch.equal(back(input_ids=ids).logits, int8)
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))  # no pickle


def test_compress_run_is_measured_gated_and_usable(ner_run, ner_data, tmp_path):
    from rawtune.artifacts.int8 import quantize_int8
    from rawtune.serve.predictor import Predictor
    from rawtune.stages.evaluate import evaluate_run

    out = tmp_path / "int8"
    assert _compress(ner_run, out, "--max-metric-drop", "100") == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["task"] == "ner" and 0 <= m["dev"]["f1"] <= 1
    assert m["parent"]["dev"]["f1"] == json.loads(ner_run.metrics_json.read_text())["dev"]["f1"]
    assert m["size"]["compressed"]["parameters"] == m["size"]["parent"]["parameters"]
    for side in ("parent", "compressed"):
        assert m["latency"][side]["latency_ms"] > 0 and m["latency"][side]["throughput"] > 0
    assert m["gate"]["accepted"] and m["gate"]["max_metric_drop"] == 100
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "compress" and manifest["status"] == "complete"
    assert manifest["parent"] == str(ner_run.path.resolve())
    # used like any run: predictions are the in-memory int8 model's, evaluation reproduces metrics.json
    pred = Predictor.from_run(out)
    parent = Predictor.from_run(ner_run.path)
    parent.entry().model = quantize_int8(parent.model)  # the same int8 model, built in memory
    texts = ["Maria Lopez flew to Paris .", "The bank in Berlin hired John Smith ."]
    assert [r["tags"] for r in pred.predict(texts)] == [r["tags"] for r in parent.predict(texts)]
    again, _ = evaluate_run(str(out), str(ner_data["dev"]), name="again")
    assert again["f1"] == m["dev"]["f1"]


def test_gate_rejects_and_says_which_bound(ner_run, tmp_path, capsys):
    out = tmp_path / "too-slow"
    assert _compress(ner_run, out, "--min-speedup", "1000") == 4
    err = capsys.readouterr().err
    assert "--min-speedup 1000" in err and "rejected" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "rejected" and "min-speedup" in manifest["error"]
    assert not json.loads((out / "metrics.json").read_text())["gate"]["accepted"]
    assert _compress(ner_run, out) == 2  # never overwrites


def test_gate_arithmetic():
    parent, child = {"f1": 0.90, "latency_ms": 10.0}, {"f1": 0.885, "latency_ms": 4.0}
    record, failed = check(parent, child, metric="f1", greater=True, max_metric_drop=1.0, min_speedup=2.0)
    assert record["metric_drop_points"] == pytest.approx(1.5) and record["speedup"] == pytest.approx(2.5)
    assert len(failed) == 1 and "dropped 1.50 points" in failed[0]
    # a lower-is-better metric (loss): rising is the drop
    record, failed = check(
        {"loss": 0.50, "latency_ms": 1.0},
        {"loss": 0.49, "latency_ms": 1.0},
        metric="loss",
        greater=False,
        max_metric_drop=0.0,
        min_speedup=None,
    )
    assert record["metric_drop_points"] == pytest.approx(-1.0) and not failed


def test_compress_needs_dev_data(tiny_backbone, ner_data, tmp_path, capsys):
    parent = run_finetune(
        {
            "output": str(tmp_path / "nodev"),
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "ner"},
            "data": {"train": str(ner_data["train"]), "max_length": 64, "stride": 16},
            "train": {"max_steps": 2, "batch_size": 8, "threads": 1},
        }
    )
    assert main(["compress", str(parent.path), "--quantize", "int8", "--output", str(tmp_path / "c")]) == 2
    assert "--dev" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
@pytest.mark.parametrize("int8", [False, True])
def test_onnx_compress_run_is_measured_and_usable(ner_run, ner_data, tmp_path, int8):
    pytest.importorskip("onnxruntime")
    from rawtune.serve.predictor import Predictor

    out = tmp_path / "onnx"
    args = ["compress", str(ner_run.path), "--onnx", "--output", str(out), "--max-metric-drop", "100"]
    args += ["--measure.repeats", "1", "--measure.probe_examples", "8", "--threads", "1"]
    assert main([*args, *(["--quantize", "int8"] if int8 else [])]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (
        m["method"] == "onnx" and m["size"]["compressed"]["parameters"] == m["size"]["parent"]["parameters"]
    )
    onnx_file = out / "model" / ("model.int8.onnx" if int8 else "model.onnx")
    assert m["size"]["compressed"]["mb"] == pytest.approx(onnx_file.stat().st_size / 1e6, abs=1e-3)
    if not int8:  # the fp32 graph computes what PyTorch does: the same dev F1
        assert m["dev"]["f1"] == pytest.approx(m["parent"]["dev"]["f1"], abs=1e-9)
    pred = Predictor.from_run(out)
    assert type(pred.model).__name__ == "OnnxModel" and pred.run_path == out
    texts = ["Maria Lopez flew to Paris ."]
    parent = Predictor.from_run(ner_run.path)
    if not int8:
        assert pred.predict(texts)[0]["tags"] == parent.predict(texts)[0]["tags"]


def test_keep_fp32_layers_stay_fp32_and_round_trip(ner_run, tmp_path, capsys):
    from torch import nn

    from rawtune.serve.predictor import Predictor

    out = tmp_path / "mixed"
    assert _compress(ner_run, out, "--keep-fp32", r"layer\.\d+\.output\.dense") == 0
    model = Predictor.from_run(out).model
    fp32 = sorted(n for n, m in model.named_modules() if type(m) is nn.Linear)
    assert fp32 == ["bert.encoder.layer.0.output.dense", "bert.encoder.layer.1.output.dense"]
    meta = json.loads((out / "model" / "rawtune_quantized.json").read_text())
    assert not set(fp32) & set(meta["modules"]) and "classifier" in meta["modules"]
    capsys.readouterr()
    args = ["compress", str(ner_run.path), "--onnx", "--output", str(tmp_path / "x"), "--keep-fp32", "a"]
    assert main(args) == 2 and "keep_fp32 applies to torch int8" in capsys.readouterr().err
