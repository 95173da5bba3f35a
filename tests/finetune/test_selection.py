"""Model selection: early stopping on the dev metric with patience restores the best weights;
head lr and layer-wise decay give the parameter groups they promise; freezing freezes."""

from __future__ import annotations

import pytest
import torch

from rawtune.config.schema import FinetuneTrainConfig
from rawtune.data.batching import ShuffledBatches
from rawtune.runs.rundir import RunDir
from rawtune.train.fit import fit


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.model = torch.nn.Linear(4, 1)

    def forward(self, x, y):
        loss = ((self.model(x).squeeze(-1) - y) ** 2).mean()
        return {"loss": loss, "loss_sum": float(loss.detach()) * len(y), "count": len(y)}


def test_early_stopping_restores_best_weights(tmp_path):
    from accelerate import Accelerator

    torch.manual_seed(0)
    data = [{"x": torch.randn(4), "y": torch.randn(())} for _ in range(64)]
    stream = ShuffledBatches(
        data,
        4,
        lambda s, ids, e: {"x": torch.stack([d["x"] for d in s]), "y": torch.stack([d["y"] for d in s])},
        1,
    )
    run = RunDir.create(tmp_path / "run", "stage: test\n", {"stage": "test"})
    scripted = iter([0.50, 0.90, 0.60, 0.40, 0.95])  # best at the 2nd evaluation, then 2 worse: stop
    snapshots = {}
    module = Toy()

    def evaluate(m):
        step = len(snapshots) * 2 + 2
        snapshots[step] = m.model.weight.detach().clone()
        return {"loss": 1.0, "f1": next(scripted)}

    cfg = FinetuneTrainConfig(
        max_steps=40,
        eval_steps=2,
        save_steps=100,
        early_stopping_patience=2,
        eval_before=False,
        progress=False,
        lr=0.1,
        warmup_ratio=0.0,
    )
    res = fit(
        module,
        stream,
        cfg=cfg,
        run=run,
        accelerator=Accelerator(cpu=True),
        seed=1,
        evaluate=evaluate,
        fingerprint={},
        select=("f1", True),
    )
    assert res.state["step"] == 8  # stopped after the 4th evaluation (patience 2 after step 4)
    assert res.state["best_step"] == 4
    assert res.after["f1"] == 0.90
    assert torch.equal(module.model.weight, snapshots[4])
    assert not torch.equal(snapshots[4], snapshots[8])


def test_unknown_selection_metric_is_a_config_error(tmp_path):
    from accelerate import Accelerator

    from rawtune.errors import ConfigError

    data = [{"x": torch.randn(4), "y": torch.randn(())} for _ in range(8)]
    stream = ShuffledBatches(
        data,
        4,
        lambda s, ids, e: {"x": torch.stack([d["x"] for d in s]), "y": torch.stack([d["y"] for d in s])},
        1,
    )
    run = RunDir.create(tmp_path / "run", "stage: test\n", {"stage": "test"})
    cfg = FinetuneTrainConfig(max_steps=2, eval_steps=1, eval_before=False, progress=False)
    with pytest.raises(ConfigError, match=r"f2.*known: f1, loss"):
        fit(
            Toy(),
            stream,
            cfg=cfg,
            run=run,
            accelerator=Accelerator(cpu=True),
            seed=1,
            evaluate=lambda m: {"loss": 1.0, "f1": 0.5},
            fingerprint={},
            select=("f2", True),
        )


def test_head_lr_and_layer_decay_groups(tiny_backbone):
    from transformers import AutoModelForTokenClassification

    from rawtune.train.optim import param_groups

    model = AutoModelForTokenClassification.from_pretrained(tiny_backbone, num_labels=3)
    cfg = FinetuneTrainConfig(lr=1e-3, head_lr=1e-2, layer_decay=0.5, weight_decay=0.0)
    groups = param_groups(model, cfg)
    lr_of = {}
    for g in groups:
        for p in g["params"]:
            lr_of[id(p)] = g["lr"]
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(1e-2)
    assert lr_of[id(named["bert.encoder.layer.1.output.dense.weight"])] == pytest.approx(1e-3 * 0.5)
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(1e-3 * 0.25)
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == pytest.approx(1e-3 * 0.125)


def test_freezing(tiny_backbone):
    from transformers import AutoModelForTokenClassification

    from rawtune.modeling.heads import apply_freezing
    from rawtune.tuning.base import tuning_options

    def fresh():
        return AutoModelForTokenClassification.from_pretrained(tiny_backbone, num_labels=3)

    m = fresh()
    apply_freezing(m, tuning_options(head_only=True))
    assert {n for n, p in m.named_parameters() if p.requires_grad} == {"classifier.weight", "classifier.bias"}
    m = fresh()
    apply_freezing(m, tuning_options(freeze_embeddings=True, freeze_layers=1))
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert not any("embeddings" in n or "layer.0." in n for n in trainable)
    assert any("layer.1." in n for n in trainable)
