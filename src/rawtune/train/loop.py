"""The training loop: a generator of optimizer steps. Accumulation, autocast, clipping and the
non-finite guard live here and nothing else (evaluation, checkpoints, logging: see fit.py).
This is the only place that calls backward()."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from rawtune.config.schema import TrainConfig
from rawtune.data.batching import MicroBatch
from rawtune.errors import NonFiniteError


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


def _check_finite(value: torch.Tensor, what: str, step: int, samples: list[int]) -> None:
    if not torch.isfinite(value).all():
        shown = samples[:16]
        more = f" (+{len(samples) - 16} more)" if len(samples) > 16 else ""
        raise NonFiniteError(
            f"non-finite {what} ({float(value):g}) at step {step}; samples {shown}{more}. "
            "Stopped before the optimizer step; no checkpoint was written for this step. "
            "Try a lower train.lr, train.max_grad_norm, or train.precision=fp32.",
            step=step,
            samples=samples,
        )


def _check_finite_everywhere(loss: torch.Tensor, accelerator, step: int, samples: list[int]) -> None:
    """The non-finite loss check, agreed by every process: one process stopping alone would leave
    the others waiting in the gradient all-reduce for ever."""
    _check_finite(loss, "loss", step, samples)  # this process's own samples, named
    if accelerator.num_processes > 1:
        bad = torch.tensor([0.0 if torch.isfinite(loss).all() else 1.0], device=accelerator.device)
        if float(accelerator.reduce(bad, reduction="sum")) > 0:
            raise NonFiniteError(
                f"non-finite loss on another process at step {step}; stopped before the optimizer step",
                step=step,
                samples=samples,
            )


def _global(accelerator, loss_sum: float, units: int, correct: int) -> tuple[float, int, int]:
    """The step's loss sum, units and correct count over every process (what one process with
    grad_accum x world micro-batches would log)."""
    if accelerator.num_processes == 1:
        return loss_sum, units, correct
    t = torch.tensor([loss_sum, units, correct], dtype=torch.float64, device=accelerator.device)
    t = accelerator.reduce(t, reduction="sum")
    return float(t[0]), int(t[1]), int(t[2])


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
    rank = accelerator.process_index
    for step in range(start_step + 1, total_steps + 1):
        module.train()
        t0 = time.perf_counter()
        loss_sum, units, correct, tokens, samples = 0.0, 0, 0, 0, []
        has_correct = False
        last: MicroBatch | None = None
        for i in range(cfg.grad_accum):
            mb = next(batches, None)
            if mb is None:
                return
            last = mb
            samples.extend(mb.sample_ids)
            torch.manual_seed(step_seed(seed, step, i, rank))
            sync = contextlib.nullcontext() if i == cfg.grad_accum - 1 else accelerator.no_sync(module)
            with sync:
                with accelerator.autocast():
                    out = module(**mb.tensors)
                _check_finite_everywhere(out["loss"].detach(), accelerator, step, samples)
                accelerator.backward(out["loss"] / cfg.grad_accum)
            loss_sum += float(out["loss_sum"])
            units += int(out["count"])
            tokens += mb.n_tokens
            if out.get("correct") is not None:
                has_correct = True
                correct += int(out["correct"])
        loss_sum, units, correct = _global(accelerator, loss_sum, units, correct)
        grad_norm = accelerator.clip_grad_norm_(params, max_norm)
        if not torch.isfinite(grad_norm):
            optimizer.zero_grad(set_to_none=True)
            _check_finite(grad_norm, "gradient norm", step, samples)
        lr = max(scheduler.get_last_lr())  # the largest group lr (head lr, or the top layer under LLRD)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        assert last is not None
        yield StepResult(
            step=step,
            loss=loss_sum / max(units, 1),
            lr=lr,
            grad_norm=float(grad_norm),
            tokens=tokens,
            units=units,
            correct=correct if has_correct else None,
            seconds=time.perf_counter() - t0,
            micro_index=last.index + 1,
            epoch=last.epoch,
            samples=samples,
        )
