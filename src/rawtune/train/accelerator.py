"""The Accelerator every training stage runs under: devices, mixed precision and data parallelism
are rented from Hugging Face Accelerate, so `accelerate launch` / torchrun gives DDP with no code
change. Sharded launches: FSDP through Accelerate's own config on CUDA (checkpoints and the model
are gathered whole: train/sharded.py), DeepSpeed passed through when it is installed; on a machine
without CUDA both are refused, saying why, and Megatron-LM always."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from rawtune.config.train import TrainConfig
from rawtune.errors import ConfigError, ConfigIssue

LAUNCH = "accelerate launch"
DETERMINISTIC = "RAWTUNE_DETERMINISTIC"
# what `accelerate launch` (its flags or config file) sets when it asks for a sharded run
_ASKED = {"FSDP": "ACCELERATE_USE_FSDP", "DeepSpeed": "ACCELERATE_USE_DEEPSPEED"}


def make_accelerator(train: TrainConfig) -> Any:
    import torch
    from accelerate import Accelerator

    from rawtune.modeling.precision import resolve

    if train.threads:
        torch.set_num_threads(train.threads)
    if os.environ.get(DETERMINISTIC) == "1":
        deterministic(torch)
    cuda = torch.cuda.is_available()
    check_launch(cuda)
    choice = resolve(train.precision, "cuda" if cuda else "cpu")
    if choice.precision == "fp16" and not cuda:
        raise ConfigError(
            [ConfigIssue("train.precision", "fp16 needs a CUDA device; use bf16 or fp32 on CPU")]
        )
    mp = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[choice.precision]
    accelerator = _supported(Accelerator(mixed_precision=mp, cpu=not cuda))
    accelerator.precision_choice = choice  # the run logs and records what `auto` decided (train/run.py)
    return accelerator


def deterministic(torch: Any) -> None:
    """`RAWTUNE_DETERMINISTIC=1`: torch's deterministic kernels (and cuBLAS's fixed workspace), so
    two runs on one GPU — and a run killed and resumed — end bit for bit alike. The CPU kernels
    rawtune uses are deterministic already; on a GPU this costs some speed (atomics-free kernels)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def check_launch(cuda: bool) -> None:
    """A sharded launch asked for where it cannot run, refused before anything is written. On a
    machine without CUDA, Accelerate drops FSDP and DeepSpeed without a word and trains full copies
    data-parallel instead: the run would not be what was launched."""
    for name, var in _ASKED.items():
        if os.environ.get(var, "false").lower() != "true":
            continue
        if not cuda:
            raise ConfigError(
                [
                    ConfigIssue(
                        "distributed_type",
                        f"{name} needs CUDA GPUs and this machine has none: Accelerate runs {name} on GPUs "
                        "only, and on CPUs would silently train a full copy of the model in every "
                        "process instead. Launch without it (`accelerate launch --multi_gpu` or "
                        "torchrun train data-parallel on CPUs, over gloo) or run on GPUs",
                        file=LAUNCH,
                    )
                ]
            )
        if name == "DeepSpeed" and importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(
                [
                    ConfigIssue(
                        "distributed_type", "DeepSpeed is not installed: pip install deepspeed", file=LAUNCH
                    )
                ]
            )


def _supported(accelerator: Any) -> Any:
    kind = getattr(accelerator.distributed_type, "value", str(accelerator.distributed_type))
    if kind in ("FSDP", "DEEPSPEED"):
        name = "FSDP" if kind == "FSDP" else "DeepSpeed"
        raise ConfigError(
            [
                ConfigIssue(
                    "distributed_type",
                    f"{name} is not supported: it shards the weights across processes, and rawtune "
                    "saves checkpoints and the model from one full copy. Launch with --multi_gpu (DDP) "
                    "or torchrun instead",
                    file=LAUNCH,
                )
            ]
        )
    if kind == "MEGATRON_LM":
        raise ConfigError(
            [
                ConfigIssue(
                    "distributed_type",
                    "Megatron-LM is not supported: it splits the model's layers across processes "
                    "(rawtune's models are Hugging Face models). Launch with --multi_gpu (DDP), FSDP "
                    "or DeepSpeed instead",
                    file=LAUNCH,
                )
            ]
        )
    return accelerator
