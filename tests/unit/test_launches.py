"""Which launches the engine accepts, checked before anything is written: on a machine without CUDA
an FSDP or DeepSpeed launch is refused with the reason (Accelerate would drop it silently and train
full copies data-parallel), and Megatron-LM always."""

from __future__ import annotations

import pytest
import torch

from rawtune.config.train import TrainConfig
from rawtune.errors import ConfigError
from rawtune.train.accelerator import make_accelerator


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize(
    ("name", "var"), [("FSDP", "ACCELERATE_USE_FSDP"), ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED")]
)
def test_sharded_launches_on_a_cpu_machine_are_refused_saying_why(name, var, monkeypatch):
    monkeypatch.setenv(var, "true")  # what `accelerate launch --use_fsdp` / a DeepSpeed config sets
    with pytest.raises(ConfigError) as e:
        make_accelerator(TrainConfig())
    text = str(e.value)
    assert f"{name} needs CUDA GPUs and this machine has none" in text
    assert "silently train a full copy of the model in every process" in text
    assert "accelerate launch: distributed_type" in text and "torchrun" in text


def test_a_launch_that_asks_for_no_sharding_is_accepted(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    assert make_accelerator(TrainConfig()).num_processes == 1
