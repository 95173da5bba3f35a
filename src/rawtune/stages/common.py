"""Plumbing every stage shares: config coercion, logging into the run, the Accelerator, resume checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from rawtune.config.loader import load_config
from rawtune.config.schema import Section, TrainConfig
from rawtune.errors import CheckpointError, ConfigError, ConfigIssue, RawtuneError
from rawtune.logs import setup_logging
from rawtune.runs.rundir import COMPLETE, RunDir

log = logging.getLogger("rawtune")
# keys that may differ between a run and its --resume without changing what is computed: these, and
# any section's `progress` and `threads` (train.threads, setfit.train.progress, ...)
_RESUME_FREE = ("rawtune_version", "output")
_RESUME_FREE_LEAVES = ("progress", "threads")


def _resume_free(key: str) -> bool:
    return key in _RESUME_FREE or key.rsplit(".", 1)[-1] in _RESUME_FREE_LEAVES


def coerce_config(stage: str, config: Any) -> Any:
    if isinstance(config, Section):
        return config
    if isinstance(config, (str, Path)):
        return load_config(stage, file=config)
    if isinstance(config, dict):
        return load_config(stage, base=config)
    raise TypeError(f"config must be a {stage} config, a dict or a YAML path, not {type(config).__name__}")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def _drop_inert(flat: dict[str, Any]) -> dict[str, Any]:
    """Without augmentation (`data.augment.factor` 0 or absent) the `data.augment.*` options compute
    nothing: left out, so runs written before the section existed keep their fingerprint and resume.
    So are `data.extra_train` and `data.extra_weight` without extra training files."""
    if not flat.get("data.extra_train"):
        flat = {k: v for k, v in flat.items() if k not in ("data.extra_train", "data.extra_weight")}
    if flat.get("data.augment.factor"):
        return flat
    return {k: v for k, v in flat.items() if not k.startswith("data.augment.")}


def config_fingerprint(cfg: Section) -> str:
    flat = {
        k: v for k, v in _drop_inert(_flatten(cfg.model_dump(mode="json"))).items() if not _resume_free(k)
    }
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]


def check_resume_config(run: RunDir, cfg: Section) -> None:
    """--resume must continue the same run: refuse when the config differs, naming the keys."""
    if not RunDir.is_run(run.path):
        raise CheckpointError(
            f"--resume: {run.path} is not a rawtune run directory (no config.yaml/manifest.json)"
        )
    check_same_config(run.config_path, cfg)


def check_same_config(path: Path, cfg: Section) -> None:
    """The resolved config written at `path` is `cfg` (but for keys that change nothing computed)."""
    stored = _drop_inert(_flatten(yaml.safe_load(path.read_text()) or {}))
    now = _drop_inert(_flatten(cfg.model_dump(mode="json")))
    diff = sorted(k for k in set(stored) | set(now) if not _resume_free(k) and stored.get(k) != now.get(k))
    if diff:
        shown = ", ".join(f"{k} ({stored.get(k)!r} -> {now.get(k)!r})" for k in diff[:6])
        raise CheckpointError(f"--resume: the config differs from {path}: {shown}")


def make_accelerator(train: TrainConfig) -> Any:
    import torch
    from accelerate import Accelerator

    if train.threads:
        torch.set_num_threads(train.threads)
    cuda = torch.cuda.is_available()
    if train.precision == "fp16" and not cuda:
        raise ConfigError(
            [ConfigIssue("train.precision", "fp16 needs a CUDA device; use bf16 or fp32 on CPU")]
        )
    mp = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[train.precision]
    return _supported(Accelerator(mixed_precision=mp, cpu=not cuda))


# launches whose processes each hold a shard of the weights: rawtune's checkpoints and RUN/model are
# written from rank 0's full copy, so under these it would save one shard as if it were the model
_SHARDED = {"FSDP": "FSDP", "DEEPSPEED": "DeepSpeed", "MEGATRON_LM": "Megatron-LM"}


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


def prepare_run(cfg: Any, resume: bool) -> tuple[RunDir, bool]:
    """The run directory of `cfg.output`: new (refused if it holds anything), or, with resume, the
    existing run after checking its config is this one. Returns (run, already complete)."""
    run = RunDir(Path(cfg.output))
    if resume:
        check_resume_config(run, cfg)
        return run, run.status == COMPLETE
    RunDir.check_new(run.path)
    return run, False


def open_run(cfg: Any, resume: bool, accelerator: Any) -> tuple[RunDir, bool]:
    """`prepare_run` on every process, all of them checking before any creates the run (a process
    that looked after rank 0 created it would refuse an output that 'exists')."""
    run, done = prepare_run(cfg, resume)
    accelerator.wait_for_everyone()
    return run, done


def create_run(accelerator: Any, path: Path, config_yaml: str, manifest: dict[str, Any]) -> None:
    """RunDir.create by rank 0; every process goes on once it exists."""
    if accelerator.is_main_process:
        RunDir.create(path, config_yaml, manifest)
    accelerator.wait_for_everyone()


def log_into_run(run: RunDir, accelerator: Any) -> None:
    """Rank 0 logs to RUN/logs/train.log and stderr; the other processes only warn."""
    if accelerator.is_main_process:
        setup_logging(run.logs_dir / "train.log")
    else:
        log.setLevel(logging.WARNING)


@contextlib.contextmanager
def records_failure(run: RunDir, main: bool = True) -> Any:
    """Any failure while a stage trains is written to the run's manifest ("failed" + the error) and
    re-raised; a refused --resume (CheckpointError) leaves the run as it was, and a kill -9 leaves
    it "running" — never looking finished either way."""
    try:
        yield
    except CheckpointError:
        raise
    except BaseException as e:
        if main:  # the process that writes the run's files (rank 0)
            run.fail(str(e) if isinstance(e, RawtuneError) else f"{type(e).__name__}: {e}")
        raise
