"""`rawtune compress --prune`: structured pruning physically shrinks the parent and the run is
measured, gated, reloaded and used like any other; magnitude pruning with recovery training keeps
its sparsity through the optimizer steps."""

from __future__ import annotations

import json

import pytest
import torch

from rawtune.cli.main import main

COMMON = ["--measure.repeats", "1", "--measure.probe_examples", "8", "--max-metric-drop", "100"]
TRAIN = ["--train.batch_size", "8", "--train.threads", "1", "--train.progress", "false"]


def test_structured_pruning_with_recovery(ner_run, tmp_path):
    from rawtune.compress.prune import structure
    from rawtune.serve.predictor import Predictor

    out = tmp_path / "pruned"
    args = ["compress", str(ner_run.path), "--prune", "heads:0.5,ffn:0.25", "--recover-epochs", "1"]
    assert main([*args, "--output", str(out), *COMMON, *TRAIN, "--train.max_steps", "3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "prune" and m["training"]["steps"] == 3
    before, after = m["pruning"]["before"], m["pruning"]["after"]
    assert sum(before["heads"]) == 4 and sum(after["heads"]) == 2  # 2 layers x 2 heads, half removed
    assert sum(after["intermediate"]) == int(sum(before["intermediate"]) * 0.75)
    assert m["size"]["compressed"]["parameters"] < m["size"]["parent"]["parameters"]
    assert (out / "model" / "modeling_rawtune_pruned.py").is_file()
    pred = Predictor.from_run(out)  # reloads without remote code, the pruned shapes intact
    assert structure(pred.model)["heads"] == after["heads"]
    assert pred.predict(["Maria Lopez flew to Paris ."])[0]["tags"]


def test_magnitude_pruning_keeps_its_sparsity_through_recovery(ner_run, tmp_path):
    from rawtune.compress.prune import prunable_weights
    from rawtune.serve.predictor import Predictor

    out = tmp_path / "sparse"
    args = ["compress", str(ner_run.path), "--prune", "magnitude:0.5", "--recover-epochs", "1"]
    args += ["--prune.schedule", "cubic", "--train.max_steps", "4"]
    assert main([*args, "--output", str(out), *COMMON, *TRAIN]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["pruning"]["sparsity"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    model = Predictor.from_run(out).model
    weights = prunable_weights(model)
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    assert zeros / sum(w.numel() for w in weights.values()) == pytest.approx(0.5, abs=0.01)
    assert not (out / "model" / "modeling_rawtune_pruned.py").exists()  # shapes unchanged: plain save


def test_pruning_an_adapter_only_run_is_refused(prompt_ner_run, tmp_path):
    from rawtune.errors import ModelError
    from rawtune.stages.compress import compress_run

    parent = prompt_ner_run
    torch.manual_seed(0)
    with pytest.raises(ModelError, match="adapter"):
        compress_run(
            {"parent": str(parent.path), "output": str(tmp_path / "p"), "prune": {"spec": "heads:0.5"}}
        )


def test_a_pruned_run_quantizes_and_reloads(ner_run, tmp_path):
    from rawtune.compress.prune import structure
    from rawtune.serve.predictor import Predictor

    pruned = tmp_path / "pruned"
    assert (
        main(["compress", str(ner_run.path), "--prune", "heads:0.5", "--output", str(pruned), *COMMON]) == 0
    )
    int8 = tmp_path / "int8"
    assert main(["compress", str(pruned), "--quantize", "int8", "--output", str(int8), *COMMON]) == 0
    a, b = Predictor.from_run(pruned), Predictor.from_run(int8)
    assert structure(b.model)["heads"] == structure(a.model)["heads"] == [1, 1]
    m = json.loads((int8 / "metrics.json").read_text())
    assert m["parent"]["run"] == str(pruned) and m["size"]["compressed"]["mb"] < m["size"]["parent"]["mb"]
