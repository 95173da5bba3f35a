"""The training loop: a generator of optimizer steps. Accumulation, autocast, clipping and the
non-finite guard live here and nothing else (evaluation, checkpoints, logging: see fit.py).
This is the only place that calls backward().

Every micro-batch is placed on the model's device here (train/devices.py), and the host waits
for the device once per optimizer step: the step's loss and counts are summed where they are
computed and read together with the gradient norm and the non-finite check in one transfer
(train/devices.py `read_sums`), never per micro-batch."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from rawtune.config.schema import TrainConfig
from rawtune.data.batching import MicroBatch
from rawtune.errors import NonFiniteError
from rawtune.train.devices import DeviceSums, read_sums, to_device

log = logging.getLogger("rawtune")


@dataclass
class StepResult:
    step: int
    loss: float  # mean over the step's units (all accumulated micro-batches, of every process)
    lr: float
    grad_norm: float
    tokens: int  # non-padding input tokens processed this step (this process)
    units: int  # of every process
    correct: int | None
    seconds: float
    micro_index: int  # global micro-batches consumed after this step (the data position)
    epoch: int
    samples: list[int] = field(default_factory=list)


def step_seed(seed: int, step: int, micro: int, rank: int) -> int:
    """Dropout & any other torch randomness in a step is a pure function of (seed, step, micro, rank),
    so resuming at step k replays exactly what an uninterrupted run does."""
    return (seed * 1_000_003 + step * 1_009 + micro * 17 + rank) % (2**63 - 1)


def _non_finite(what: str, value: float, step: int, samples: list[int]) -> NonFiniteError:
    shown = samples[:16]
    more = f" (+{len(samples) - 16} more)" if len(samples) > 16 else ""
    return NonFiniteError(
        f"non-finite {what} ({value:g}) at step {step}; samples {shown}{more}. "
        "Stopped before the optimizer step; no checkpoint was written for this step. "
        "Try a lower train.lr, train.max_grad_norm, or train.precision=fp32.",
        step=step,
        samples=samples,
    )


@dataclass
class _Micro:
    """What one optimizer step's micro-batches left on the device (sums, each micro-batch's loss)
    and on the host (samples, tokens, data position)."""

    sums: DeviceSums = field(default_factory=DeviceSums)
    losses: list[torch.Tensor] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # samples seen after each micro-batch
    samples: list[int] = field(default_factory=list)
    tokens: int = 0
    last: MicroBatch | None = None


def _accumulate(module, batches, accelerator, cfg: TrainConfig, step: int, seed: int) -> _Micro | None:
    """Forward and backward of the step's micro-batches (None when the data ran out)."""
    micro = _Micro()
    for i in range(cfg.grad_accum):
        mb = next(batches, None)
        if mb is None:
            return None
        micro.last = mb
        micro.samples.extend(mb.sample_ids)
        micro.ends.append(len(micro.samples))
        torch.manual_seed(step_seed(seed, step, i, accelerator.process_index))
        sync = contextlib.nullcontext() if i == cfg.grad_accum - 1 else accelerator.no_sync(module)
        with sync:
            with accelerator.autocast():
                out = module(**to_device(mb.tensors, accelerator.device))
            accelerator.backward(out["loss"] / cfg.grad_accum)
        micro.losses.append(out["loss"].detach().reshape(()))
        micro.sums.add(out)
        micro.tokens += mb.n_tokens
    return micro


def _read(micro: _Micro, grad_norm: torch.Tensor, accelerator, step: int) -> tuple[list[float], float]:
    """The step's sums over every process (loss_sum, units, correct) and the gradient norm, read in
    one transfer; raises when a loss is non-finite — on this process (naming its samples up to that
    micro-batch) or on another (every process stops in the same step, none waits in an all-reduce)."""
    losses = torch.stack([x.float() for x in micro.losses])
    bad = (~torch.isfinite(losses)).sum()
    summed, local = read_sums(accelerator, [*micro.sums.values(), bad], [grad_norm, *losses])
    norm, mine = local[0], local[1:]
    first = next((i for i, x in enumerate(mine) if not math.isfinite(x)), None)
    if first is not None:
        raise _non_finite("loss", mine[first], step, micro.samples[: micro.ends[first]])
    if summed[3] > 0:
        raise NonFiniteError(
            f"non-finite loss on another process at step {step}; stopped before the optimizer step",
            step=step,
            samples=micro.samples,
        )
    return summed[:3], norm


def train_steps(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterator[MicroBatch],
    accelerator,
    cfg: TrainConfig,
    *,
    start_step: int,
    total_steps: int,
    seed: int,
) -> Iterator[StepResult]:
    # every parameter, not those trainable now: gradual unfreezing thaws more during training, and
    # clipping skips the ones without a gradient
    params = list(module.parameters())
    max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else float("inf")
    scaled = getattr(accelerator, "scaler", None) is not None  # fp16: a gradient scaler
    for step in range(start_step + 1, total_steps + 1):
        module.train()
        t0 = time.perf_counter()
        micro = _accumulate(module, batches, accelerator, cfg, step, seed)
        if micro is None:
            return
        grad_norm = accelerator.clip_grad_norm_(params, max_norm)
        (loss_sum, units, correct), norm = _read(micro, grad_norm, accelerator, step)
        if not math.isfinite(norm) and not scaled:
            optimizer.zero_grad(set_to_none=True)
            raise _non_finite("gradient norm", norm, step, micro.samples)
        lr = max(scheduler.get_last_lr())  # the largest group lr (head lr, or the top layer under LLRD)
        optimizer.step()  # fp16: the scaler skips a step whose gradients overflowed, and lowers its scale
        if scaled and not math.isfinite(norm):
            log.info("step %d: fp16 gradients overflowed; the scaler skipped the update", step)
        else:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        assert micro.last is not None
        yield StepResult(
            step=step,
            loss=loss_sum / max(units, 1),
            lr=lr,
            grad_norm=norm,
            tokens=micro.tokens,
            units=int(units),
            correct=int(correct) if micro.sums.has_correct else None,
            seconds=time.perf_counter() - t0,
            micro_index=micro.last.index + 1,
            epoch=micro.last.epoch,
            samples=micro.samples,
        )
