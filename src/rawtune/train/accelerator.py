"""The Accelerator every training stage runs under: devices, mixed precision and data parallelism
are rented from Hugging Face Accelerate, so `accelerate launch` / torchrun gives DDP with no code
change; launches that shard the weights are refused."""

from __future__ import annotations

from typing import Any

from rawtune.config.train import TrainConfig
from rawtune.errors import ConfigError, ConfigIssue

# launches whose processes each hold a shard of the weights: rawtune's checkpoints and RUN/model are
# written from rank 0's full copy, so under these it would save one shard as if it were the model
_SHARDED = {"FSDP": "FSDP", "DEEPSPEED": "DeepSpeed", "MEGATRON_LM": "Megatron-LM"}


def make_accelerator(train: TrainConfig) -> Any:
    import torch
    from accelerate import Accelerator

    from rawtune.modeling.precision import resolve

    if train.threads:
        torch.set_num_threads(train.threads)
    cuda = torch.cuda.is_available()
    choice = resolve(train.precision, "cuda" if cuda else "cpu")
    if choice.precision == "fp16" and not cuda:
        raise ConfigError(
            [ConfigIssue("train.precision", "fp16 needs a CUDA device; use bf16 or fp32 on CPU")]
        )
    mp = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[choice.precision]
    accelerator = _supported(Accelerator(mixed_precision=mp, cpu=not cuda))
    accelerator.precision_choice = choice  # the run logs and records what `auto` decided (train/run.py)
    return accelerator


def _supported(accelerator: Any) -> Any:
    kind = getattr(accelerator.distributed_type, "value", str(accelerator.distributed_type))
    if kind in _SHARDED:
        raise ConfigError(
            [
                ConfigIssue(
                    "distributed_type",
                    f"{_SHARDED[kind]} is not supported: it shards the weights across processes, and "
                    "rawtune saves checkpoints and the model from one full copy. Launch with "
                    "--multi_gpu (DDP) or torchrun instead",
                    file="accelerate launch",
                )
            ]
        )
    return accelerator
