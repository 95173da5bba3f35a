"""`rawtune predict --device` and `Predictor(device=...)`: auto is the GPU when there is one, a CUDA
device on a machine without one is refused before anything loads, and on CUDA the records equal
the CPU's within the stated tolerance (labels the same, probabilities and scores within 1e-4; run
only where a GPU is). int8 and ONNX models stay on the CPU: tests/serve/test_backends.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rawtune.artifacts.run import default_device
from rawtune.cli.main import main
from rawtune.errors import ModelError
from rawtune.serve.predictor import Predictor

TOLERANCE = 1e-4  # fp32 on CUDA vs the CPU: probabilities and entity scores
CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def text(tmp_path_factory, ner_data) -> str:
    lines = ner_data["raw"].read_text().splitlines()[:12]
    path = tmp_path_factory.mktemp("input") / "in.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _predict(run, text, out, *flags) -> list[dict]:
    argv = ["predict", str(run), "--input", text, "--output", str(out), "--no-progress", *flags]
    assert main(argv) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_auto_and_cpu_name_the_same_device_here():
    assert default_device() == default_device("auto") == ("cuda" if CUDA else "cpu")
    assert default_device("cpu") == "cpu"
    with pytest.raises(ModelError, match="auto, cpu, cuda or cuda:N"):
        default_device("tpu?")


def test_predict_device_cpu_writes_what_auto_writes_on_this_machine(ner_run, text, tmp_path):
    cpu = _predict(ner_run.path, text, tmp_path / "cpu.jsonl", "--device", "cpu")
    auto = _predict(ner_run.path, text, tmp_path / "auto.jsonl")
    assert len(cpu) == 12
    if not CUDA:
        assert cpu == auto


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_before_loading(ner_run, text, tmp_path, capsys):
    assert main(["predict", str(ner_run.path), "--input", text, "--output", str(tmp_path / "o.jsonl"),
                 "--device", "cuda"]) != 0  # fmt: skip
    assert "no usable CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    with pytest.raises(ModelError, match="no usable CUDA device"):
        Predictor.from_run(ner_run.path, device="cuda:0")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("run", ["ner_run", "cls_run"])
def test_cuda_predictions_equal_the_cpus_within_tolerance(run, request, text, tmp_path):
    path = request.getfixturevalue(run).path
    cpu = Predictor.from_run(path, device="cpu")
    gpu = Predictor.from_run(path, device="cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    lines = Path(text).read_text().splitlines()
    for a, b in zip(cpu.predict(lines), gpu.predict(lines)):
        assert _close(a, b), (a, b)


def _close(a, b) -> bool:
    """The same record but for floats within TOLERANCE."""
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= TOLERANCE
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory, tiny_backbone, cls_data):
    from rawtune.stages.finetune import run_finetune

    out = tmp_path_factory.mktemp("cls-run") / "run"
    return run_finetune(
        {
            "output": str(out),
            "seed": 3,
            "model": {"name_or_path": str(tiny_backbone)},
            "task": {"name": "classification"},
            "data": {"train": str(cls_data["train"]), "dev": str(cls_data["dev"])},
            "train": {"max_steps": 4, "batch_size": 8, "threads": 1, "progress": False},
        }
    )
