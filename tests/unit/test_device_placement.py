"""The placement guard: the engine built on a device other than the batches' (an Accelerator whose
`.device` is `meta`, the device with no data), and stub modules that record the device of every
tensor they are given. Batches are collated on the CPU, so a tensor that reaches a model without
being moved shows up as "cpu" here — the bug that would stop the first training step on a GPU,
caught without one. The stubs compute their losses from a CPU weight the engine cannot see, so
the loop, the driver and the evaluation run to the end around them."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import torch
from torch import nn

from rawtune.config.train import TrainConfig
from rawtune.data.batching import feature_batches
from rawtune.runs.rundir import RunDir
from rawtune.train.devices import to_device

META = torch.device("meta")


class MetaAccelerator:
    """What the engine asks of Accelerate, one process, placing models on the meta device."""

    device = META
    num_processes, process_index, is_main_process, scaler = 1, 0, True, None

    def prepare(self, *objs):
        moved = tuple(o.to(self.device) if isinstance(o, nn.Module) else o for o in objs)
        return moved if len(moved) > 1 else moved[0]

    def unwrap_model(self, module):
        return module

    def autocast(self):
        return contextlib.nullcontext()

    def no_sync(self, module):
        return contextlib.nullcontext()

    def backward(self, loss):
        loss.backward()

    def clip_grad_norm_(self, params, max_norm):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    def reduce(self, t, reduction="sum"):
        return t

    def wait_for_everyone(self):
        pass


def _devices(batch: dict) -> set[str]:
    return {v.device.type for v in batch.values() if isinstance(v, torch.Tensor)}


class Recorder(nn.Module):
    """A training module (the loop's loss dict) recording where its inputs are; `.model` is what
    the engine places and saves, the loss comes from a CPU weight outside the module's tensors."""

    def __init__(self):
        super().__init__()
        self.model = nn.Linear(2, 2)
        object.__setattr__(self, "w", torch.ones((), requires_grad=True))  # never moved by .to()
        self.seen: list[set[str]] = []

    def forward(self, **batch):
        self.seen.append(_devices(batch))
        n = batch["input_ids"].shape[0]
        loss = self.w * 1.0
        return {"loss": loss, "loss_sum": loss.detach() * n, "count": n, "correct": None}


def _collate(samples: list[dict]) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.tensor([s["input_ids"] for s in samples]),
        "attention_mask": torch.ones(len(samples), 3, dtype=torch.long),
        "labels": torch.tensor([s["label"] for s in samples]),
    }


FEATURES = [{"input_ids": [i, i + 1, i + 2], "label": i % 2} for i in range(8)]


def test_training_steps_and_in_training_evaluation_reach_the_models_device(tmp_path):
    from rawtune.train.evaluate import evaluate_module
    from rawtune.train.fit import fit

    acc = MetaAccelerator()
    module = Recorder()
    dev = feature_batches(FEATURES, 4, _collate, seed=0)
    cfg = TrainConfig(
        max_steps=3, batch_size=2, grad_accum=2, eval_steps=1, save_steps=100, progress=False, lr=1e-3
    )
    run = RunDir(tmp_path)

    result = fit(
        module, feature_batches(FEATURES, 2, _collate, seed=0), cfg=cfg, run=run, accelerator=acc,
        seed=0, evaluate=lambda m: evaluate_module(m, dev, 2, acc), fingerprint={},
    )  # fmt: skip
    assert result.state["step"] == 3 and result.after["count"] == 8
    assert next(module.model.parameters()).device == META  # the engine placed the model ...
    # ... and every batch: 3 steps of 2 micro-batches, 4 evaluations (before, steps 1-3) of 2 batches
    assert len(module.seen) == 14 and all(s == {"meta"} for s in module.seen)


def test_forward_batches_places_inference_batches_on_the_models_device():
    from rawtune.tasks.features import forward_batches

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.seen: list[set[str]] = []

        def forward(self, **inputs):
            self.seen.append(_devices(inputs))
            return SimpleNamespace(logits=torch.zeros(*inputs["input_ids"].shape, 2))

    model = Tagger().to(META)
    got: list[set[str]] = []
    forward_batches(model, FEATURES, _collate, 3, lambda idx, batch, logits: got.append(_devices(batch)))
    assert len(model.seen) == 3 and all(s == {"meta"} for s in model.seen)
    assert all(s == {"cpu"} for s in got)  # the reducer gets the batch as collated (its labels)


def test_distillation_teacher_runs_where_the_engine_placed_the_student():
    from rawtune.compress.distill import DistillLoss

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.config = SimpleNamespace(hidden_size=2)
            self.seen: list[set[str]] = []

        def forward(self, input_ids, attention_mask, **_):
            self.seen.append(_devices({"input_ids": input_ids, "attention_mask": attention_mask}))
            return SimpleNamespace(logits=self.lin(input_ids.float()))

    student, teacher = Classifier(), Classifier()
    acc = MetaAccelerator()
    module = acc.prepare(DistillLoss(student, teacher, nn.Identity(), "single", alpha=1.0))
    batch = {**_collate(FEATURES[:4]), "soft_mask": torch.ones(4, dtype=torch.bool)}
    # soft_mask selects rows: on meta that needs torch to assume every row is selected
    with torch.fx.experimental._config.patch(meta_nonzero_assume_all_nonzero=True):
        out = module(**to_device(batch, acc.device))
    assert out["loss"].device == META
    assert next(teacher.parameters()).device == META
    assert student.seen == [{"meta"}] and teacher.seen == [{"meta"}]


def test_continual_penalty_and_fisher_pass_run_on_the_models_device():
    from rawtune.continual.penalty import Penalty, Regularized, fisher_diagonal

    inner = Recorder()
    weights = fisher_diagonal(inner.to(META), [_collate(FEATURES[:4])])
    assert inner.seen == [{"meta"}]  # the Fisher pass's batches are placed too
    assert {w.device for w in weights.values()} == {META}
    module = MetaAccelerator().prepare(Regularized(inner, Penalty(inner.model, weights, strength=1.0)))
    assert {b.device for b in module.penalty.buffers()} == {META}  # anchors and Fisher weights
    assert module.penalty(module.model).device == META
    frozen = nn.Linear(2, 2).requires_grad_(False).to(META)
    assert Penalty(frozen, None, 1.0)(frozen).device == META  # nothing to anchor: still on its device


def test_one_transfer_sums_are_exact():
    """The loop's device-side sums add up as the host did (float64 loss sums, integer counts)."""
    from rawtune.train.devices import DeviceSums, read_sums

    outs = [
        {"loss_sum": torch.tensor(0.1, dtype=torch.float32) * 3, "count": 3, "correct": torch.tensor(2)},
        {"loss_sum": 0.7, "count": torch.tensor(5), "correct": None},
        {"loss_sum": torch.tensor(1e-8, dtype=torch.float32), "count": 1, "correct": torch.tensor(1)},
    ]
    sums, host = DeviceSums(), [0.0, 0, 0]
    for out in outs:
        sums.add(out)
        host[0] += float(out["loss_sum"])
        host[1] += int(out["count"])
        host[2] += int(out["correct"]) if out["correct"] is not None else 0
    (loss_sum, units, correct), local = read_sums(
        MetaAccelerator(), sums.values(), [torch.tensor([1.5, 2.5])]
    )
    assert (loss_sum, int(units), int(correct)) == (host[0], host[1], host[2]) and sums.has_correct
    assert local == [1.5, 2.5]
