"""The data position survives a change in the number of processes: a checkpoint records the
micro-batches every process consumed, and a resume with another world size starts there; shards of
a step are disjoint and together are what one process reads."""

from __future__ import annotations

import pytest
import torch

from rawtune.data.batching import ShuffledBatches


def _ids(stream, start, rank, world, n):
    it = stream.iterate(start, rank, world)
    return [next(it).sample_ids for _ in range(n)]


def test_shards_are_disjoint_and_cover_what_one_process_reads():
    data = [{"x": i} for i in range(37)]
    for lengths in (None, [i % 7 for i in range(37)]):
        s = ShuffledBatches(data, 4, lambda b, ids, e: {"x": torch.zeros(len(b))}, seed=3, lengths=lengths)
        one = _ids(s, 0, 0, 1, 20)
        r0, r1 = _ids(s, 0, 0, 2, 10), _ids(s, 0, 1, 2, 10)
        assert [x for pair in zip(r0, r1) for x in pair] == one
        for a, b in zip(r0, r1):
            assert not set(a) & set(b)
        # 10 micro-batches (one epoch) cover every example once
        assert sorted(i for b in one[:10] for i in b) == list(range(37))


def test_resume_position_is_counted_in_micro_batches_of_every_process():
    from accelerate import Accelerator

    from rawtune.config.schema import TrainConfig
    from rawtune.train.fit import fit

    starts = []

    class Stream:
        micro_per_epoch = 100

        def iterate(self, start, rank=0, world=1):
            starts.append(start)
            return iter(())  # no data: fit stops at once

    class Run:
        logs_dir = checkpoints_dir = None

        def log_metrics(self, rec):
            pass

    import rawtune.train.fit as F

    saved = {"step": 10, "micro_consumed": 20, "world": 2, "fingerprint": {}}
    cfg = TrainConfig(max_steps=20, progress=False, grad_accum=1)
    module = torch.nn.Module()
    module.model = torch.nn.Linear(2, 2)
    orig = F._restore
    F._restore = lambda *a, **k: {**F._new_state({}), **saved}
    try:
        fit(module, Stream(), cfg=cfg, run=Run(), accelerator=Accelerator(cpu=True), seed=0,
            evaluate=None, fingerprint={}, resume=True)  # fmt: skip
    finally:
        F._restore = orig
    assert starts == [20]  # not step x grad_accum x world = 10 with one process


@pytest.mark.parametrize("kind", ["FSDP", "DEEPSPEED", "MEGATRON_LM"])
def test_sharded_launches_are_refused_before_anything_is_written(kind, monkeypatch):
    # under FSDP/DeepSpeed rank 0 holds one shard; saving it as the model would write a broken run
    import accelerate
    from accelerate.utils import DistributedType

    from rawtune.config.train import TrainConfig
    from rawtune.errors import ConfigError
    from rawtune.train.accelerator import make_accelerator

    real = accelerate.Accelerator

    class Sharded(real):
        @property
        def distributed_type(self):
            return DistributedType[kind]

    monkeypatch.setattr(accelerate, "Accelerator", Sharded)
    why = "splits the model's layers" if kind == "MEGATRON_LM" else "shards the weights"
    with pytest.raises(ConfigError, match=f"not supported: it {why}") as e:
        make_accelerator(TrainConfig())
    assert "accelerate launch: distributed_type" in str(e.value)
    monkeypatch.setattr(accelerate, "Accelerator", real)
    assert make_accelerator(TrainConfig()).distributed_type == DistributedType.NO
