"""`rawtune serve --backend`: models converted at start-up compute what the matching compress or
export path computes (int8: the same int8 model; onnx: PyTorch's predictions), a run that is already
int8 is left as it is, and a GPU device with a CPU backend is refused before anything loads."""

from __future__ import annotations

import pytest

from rawtune.config.serve import ServeConfig
from rawtune.errors import ConfigError
from rawtune.serve.backends import apply_backend, backend_device
from rawtune.serve.predictor import Predictor

TEXTS = ["Maria Lopez flew to Paris .", "The bank in Berlin hired John Smith .", "quiet day"]


@pytest.fixture(scope="module")
def ner_run(ner_run) -> str:  # the session's tiny NER run, as a path
    return str(ner_run.path)


def test_int8_backend_is_the_compress_int8_model(ner_run, tmp_path):
    from rawtune.artifacts.int8 import quantize_int8

    served = Predictor.from_runs({"ner": ner_run}, device="cpu")
    apply_backend(served, "int8", tmp_path)
    reference = Predictor.from_run(ner_run, device="cpu")
    reference.entry().model = quantize_int8(reference.model)
    assert served.predict(TEXTS, adapter="ner") == reference.predict(TEXTS)
    model = served.entry("ner").model
    apply_backend(served, "int8", tmp_path)  # already int8: left as it is
    assert served.entry("ner").model is model


def _int8_gate(monkeypatch, min_agreement: float | None) -> None:
    """Serve's ONNX export with another int8 agreement gate (serve imports export_onnx when called)."""
    import functools

    from rawtune.export import onnx as onnx_export

    export = functools.partial(onnx_export.export_onnx, min_agreement=min_agreement)
    monkeypatch.setattr(onnx_export, "export_onnx", export)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_backends_run_through_onnxruntime(ner_run, tmp_path, backend, monkeypatch):
    pytest.importorskip("onnxruntime")
    # the session's NER run trained 6 steps: its logits nearly tie, so int8 rounding flips a few
    # argmaxes and the 99 % agreement gate failed by chance in CI (97.5 %); the wiring is under test
    # here, the gate in the test below and in tests/export
    _int8_gate(monkeypatch, None)
    served = Predictor.from_runs({"ner": ner_run}, device="cpu")
    apply_backend(served, backend, tmp_path)
    assert type(served.entry("ner").model).__name__ == "OnnxModel"
    got = served.predict(TEXTS, adapter="ner")
    assert [len(r["tags"]) for r in got] == [len(t.split()) for t in TEXTS]
    if backend == "onnx":  # the fp32 graph matches PyTorch within 1e-4: the same tags
        torch_tags = [r["tags"] for r in Predictor.from_run(ner_run, device="cpu").predict(TEXTS)]
        assert [r["tags"] for r in got] == torch_tags


def test_onnx_int8_backend_refuses_to_serve_a_graph_that_fails_the_agreement_gate(
    ner_run, tmp_path, monkeypatch
):
    pytest.importorskip("onnxruntime")
    from rawtune.errors import ModelError

    _int8_gate(monkeypatch, 1.01)  # no graph agrees on 101 %
    served = Predictor.from_runs({"ner": ner_run}, device="cpu")
    with pytest.raises(ModelError, match="int8 ONNX model agrees with PyTorch"):
        apply_backend(served, "onnx-int8", tmp_path)
    assert type(served.entry("ner").model).__name__ != "OnnxModel"  # still the PyTorch model


def test_cpu_backends_refuse_a_gpu_device():
    assert backend_device("torch", "cuda") == "cuda" and backend_device("int8", None) == "cpu"
    with pytest.raises(ConfigError, match="runs on the CPU"):
        backend_device("onnx", "cuda:0")
    with pytest.raises(ValueError):
        ServeConfig(backend="tensorrt")
