"""The driver: evaluation cadence, best/last tracking, early stopping, checkpoints, exact resume,
logging. It consumes `loop.train_steps` and decides; it never touches gradients."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from rawtune.config.schema import TrainConfig
from rawtune.data.batching import BatchStream
from rawtune.errors import CheckpointError, ConfigError, ConfigIssue, NonFiniteError
from rawtune.runs.checkpoint import latest_verified, prune_checkpoints, read_state, save_checkpoint
from rawtune.runs.faults import fault
from rawtune.runs.rundir import RunDir
from rawtune.train.callbacks import Callback, ProgressBar, TensorBoard
from rawtune.train.loop import StepResult, train_steps
from rawtune.train.optim import build_optimizer, build_scheduler, total_steps

log = logging.getLogger("rawtune")
Evaluate = Callable[[torch.nn.Module], dict[str, Any]]


@dataclass
class FitResult:
    state: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    total_steps: int
    resumed_from: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)  # of a run trained in phases, each one


@dataclass(frozen=True)
class Phase:
    """One phase of a run trained in several (a head warmed up with the encoder frozen, then the
    whole model). `name` is in every metrics record and checkpoint of the phase and on its progress
    bar; `start` is the state the previous phase left (its step, data position and counters, and its
    final evaluation as this phase's 'before' and best so far: a later phase that never beats it ends
    with the previous phase's weights, under restore_best); `seal`: the phase ends with a checkpoint
    of its final model, marked done, so that a --resume after it goes on with the next phase.
    Step numbers run on across phases; evaluation, logging and saving count from the phase's start."""

    name: str
    start: dict[str, Any] | None = None
    seal: bool = False


def next_phase(name: str, state: dict[str, Any], seal: bool) -> Phase:
    """The phase that follows one whose sealed final `state` is given."""
    carried = (
        "step",
        "tokens_seen",
        "samples_seen",
        "train_seconds",
        "micro_consumed",
        "world",
        "fingerprint",
    )
    start = {k: state[k] for k in carried if k in state}
    start.update(
        phase_start=state["step"],
        before=state["after"],
        best=state["after"],
        best_step=state["step"] if state["after"] is not None else None,
        phases=[*state.get("phases", []), phase_record(state)],
    )
    return Phase(name, start, seal)


def phase_record(state: dict[str, Any]) -> dict[str, Any]:
    """What a finished phase did: its steps, evaluations before and after, best step, and whether
    it stopped early (before its step budget)."""
    first = state.get("phase_start", 0)
    return {
        "phase": state.get("phase"),
        "first_step": first + 1,
        "last_step": state["step"],
        "steps": state["step"] - first,
        "before": state.get("before"),
        "after": state.get("after"),
        "best_step": state.get("best_step"),
        "stopped_early": state["step"] < state.get("total_steps", state["step"]),
    }


def _new_state(fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": 0,
        "tokens_seen": 0,
        "samples_seen": 0,
        "train_seconds": 0.0,
        "best": None,
        "best_step": None,
        "bad_evals": 0,
        "before": None,
        "last_eval": None,
        "fingerprint": fingerprint,
    }


def _save(
    run: RunDir, module, optimizer, scheduler, state: dict[str, Any], keep_last: int, accelerator
) -> None:
    model = accelerator.unwrap_model(module).model
    for name, p in model.named_parameters():  # never persist a broken model
        if not torch.isfinite(p).all():
            raise NonFiniteError(
                f"parameter {name} is non-finite at step {state['step']}; checkpoint not written",
                step=state["step"],
                samples=[],
            )
    if not accelerator.is_main_process:
        return

    def payload(d: Path) -> None:
        save_model(model, str(d / "model.safetensors"))
        fault("checkpoint.payload", d / "model.safetensors")  # a test hook (runs/faults.py)
        torch.save(optimizer.state_dict(), d / "optimizer.pt")
        torch.save(scheduler.state_dict(), d / "scheduler.pt")

    save_checkpoint(run.checkpoints_dir, state["step"], payload, state)
    fault("checkpoint.renamed")
    keep = {state["best_step"]} if state["best_step"] is not None else set()
    prune_checkpoints(run.checkpoints_dir, keep_last, keep)


def _load_checkpoint(ckpt: Path, model, optimizer, scheduler) -> None:
    """A verified checkpoint's weights and optimizer/scheduler state. Its checksums match, yet the
    files can still be hostile (checksums.json can be rewritten too): a pickle holding more than
    tensors is refused by the weights-only unpickler, a crafted safetensors header by safetensors;
    either is a CheckpointError naming the file, never a traceback."""
    import pickle

    from safetensors import SafetensorError

    name = "model.safetensors"
    try:
        load_model(model, str(ckpt / name))
        for name, target in (("optimizer.pt", optimizer), ("scheduler.pt", scheduler)):
            target.load_state_dict(torch.load(ckpt / name, weights_only=True))
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"--resume: {ckpt / name} holds objects other than tensors; refused to unpickle it "
            f"({first[:200]}). Do not resume from a checkpoint you did not write"
        ) from None
    except (SafetensorError, RuntimeError, ValueError, KeyError, EOFError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"--resume: cannot load {ckpt / name}: {first[:300]}") from None


def _restore(
    run: RunDir, module, optimizer, scheduler, fingerprint: dict[str, Any], accelerator
) -> dict[str, Any]:
    ckpt = latest_verified(run.checkpoints_dir, log.warning)
    if ckpt is None:
        raise CheckpointError(
            f"--resume: no complete checkpoint in {run.checkpoints_dir}; "
            "start a new run with a new --output (or delete this one)"
        )
    state = read_state(ckpt)
    theirs = state.get("fingerprint", {})
    diff = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
    if diff:
        raise CheckpointError(
            f"--resume: checkpoint {ckpt} was made with a different {', '.join(diff)}; "
            "resume with the same config and data, or start a new --output"
        )
    _load_checkpoint(ckpt, accelerator.unwrap_model(module).model, optimizer, scheduler)
    if accelerator.is_main_process:  # the one process that writes the run's files
        run.truncate_metrics(state["step"])
    log.info("resumed from %s (step %d)", ckpt, state["step"])
    return state


def _log_train(log_metrics, window: list[StepResult], state: dict[str, Any], world: int) -> None:
    units = sum(r.units for r in window)
    secs = sum(r.seconds for r in window)
    rec = {
        "step": window[-1].step,
        "kind": "train",
        "epoch": window[-1].epoch,
        "loss": sum(r.loss * r.units for r in window) / max(units, 1),
        "lr": window[-1].lr,
        "grad_norm": window[-1].grad_norm,
        "tokens_per_s": world * sum(r.tokens for r in window) / secs,
        "tokens_seen": state["tokens_seen"],
        "elapsed_s": state["train_seconds"],  # the steps' own time (no logging, evaluation, saving)
        "time": round(time.time(), 3),  # wall clock: benchmarks time a span of steps by it, as the peer's
    }
    correct = [r.correct for r in window if r.correct is not None]
    if correct:
        rec["accuracy"] = sum(correct) / max(units, 1)
    log_metrics(rec)


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    """The flat numbers of an evaluation (per-class tables stay out of metrics.jsonl)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None}


def _improved(metrics: dict[str, Any], best: dict[str, Any] | None, select: tuple[str, bool]) -> bool:
    key, greater = select
    if key not in metrics:
        raise ConfigError(
            [
                ConfigIssue(
                    "train.metric_for_best",
                    f"'{key}' is not a validation metric; known: {', '.join(sorted(_scalars(metrics)))}",
                )
            ]
        )
    if best is None or best.get(key) is None:
        return True
    value = metrics[key]
    if value is None:
        return False
    return value > best[key] if greater else value < best[key]


def _on_eval(
    state: dict[str, Any],
    metrics: dict[str, Any],
    step: int,
    cfg: TrainConfig,
    select: tuple[str, bool],
    log_metrics: Callable[[dict[str, Any]], None],
    cbs: Sequence[Callback],
) -> tuple[bool, bool]:
    """Log an evaluation, tell the callbacks, update best/patience; returns (new best, early
    stopping triggers)."""
    log_metrics({"step": step, "kind": "eval", "split": "validation", **_scalars(metrics)})
    for cb in cbs:
        cb.on_eval(step, metrics)
    state["last_eval"] = metrics
    if _improved(metrics, state["best"], select):
        state["best"], state["best_step"], state["bad_evals"] = metrics, step, 0
        return True, False
    state["bad_evals"] += 1
    stop = cfg.early_stopping_patience is not None and state["bad_evals"] >= cfg.early_stopping_patience
    return False, stop


def _restore_best(run: RunDir, module, state: dict[str, Any], accelerator) -> None:
    from rawtune.runs.checkpoint import verify_checkpoint

    path = run.checkpoints_dir / f"step-{state['best_step']}"
    problem = verify_checkpoint(path)
    if problem is not None:
        raise CheckpointError(f"cannot restore the best model (step {state['best_step']}): {problem}")
    load_model(accelerator.unwrap_model(module).model, str(path / "model.safetensors"))
    log.info("restored the best model (step %d) from %s", state["best_step"], path)


def fit(
    module: torch.nn.Module,
    stream: BatchStream,
    *,
    cfg: TrainConfig,
    run: RunDir,
    accelerator,
    seed: int,
    evaluate: Evaluate | None,
    fingerprint: dict[str, Any],
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    select: tuple[str, bool] = ("loss", False),
    phase: Phase | None = None,
) -> FitResult:
    """Train to the end (or early stop). `select` = (validation metric, greater is better) picks the
    best evaluation; with `cfg.restore_best` its weights are checkpointed when found and restored at
    the end, so the returned module holds the best model. `phase`: one phase of a run trained in
    several (see `Phase`); a --resume that finds its phase sealed returns at once."""
    world = accelerator.num_processes
    log_metrics = _metrics_logger(run, accelerator, phase)
    phase_steps = total_steps(cfg, stream.micro_per_epoch, world)
    optimizer = build_optimizer(module, cfg)
    scheduler = build_scheduler(optimizer, cfg, phase_steps)
    module, optimizer = accelerator.prepare(module, optimizer)
    state = _begin(run, module, optimizer, scheduler, fingerprint, accelerator, resume, phase)
    resumed_from = state["step"] if resume else None
    offset = state.get("phase_start", 0)  # the step the phase starts after (0: the run's first phase)
    steps = offset + phase_steps
    if state.get("done"):  # a sealed phase: its final model is loaded, the next phase goes on
        return FitResult(state, state["before"], state["after"], steps, resumed_from)
    if not resume and evaluate is not None and cfg.eval_before and state["before"] is None:
        state["before"] = _evaluate_before(module, evaluate, state["step"], log_metrics)
    cbs = _start_callbacks(cfg, run, accelerator, steps, state, callbacks, phase)
    _data_position(state, cfg, world, resume)
    batches = stream.iterate(state["micro_consumed"], accelerator.process_index, world)
    window: list[StepResult] = []
    evaluated_at = -1
    for res in train_steps(
        module, optimizer, scheduler, batches, accelerator, cfg,
        start_step=state["step"], total_steps=steps, seed=seed,
    ):  # fmt: skip
        _count(state, res, cfg, world)
        window.append(res)
        for cb in cbs:
            cb.on_step(res, state)
        local = res.step - offset  # evaluation, logging and saving count from the phase's start
        if local % cfg.log_steps == 0 or res.step == steps:
            _log_train(log_metrics, window, state, world)
            window = []
        stop = best = False
        if evaluate is not None and (local % cfg.eval_steps == 0 or res.step == steps):
            metrics = evaluate(module)
            fault("eval")
            evaluated_at = res.step
            best, stop = _on_eval(state, metrics, res.step, cfg, select, log_metrics, cbs)
        periodic = local % cfg.save_steps == 0 and res.step < steps and not stop
        if periodic or (best and cfg.restore_best and res.step < steps):
            _save(run, module, optimizer, scheduler, state, cfg.keep_last, accelerator)
        if stop:
            log.info(
                "early stopping at step %d (no improvement in %d evaluations)", res.step, state["bad_evals"]
            )
            break
        fault("step")
    if window:
        _log_train(log_metrics, window, state, world)
    after = state["last_eval"] if evaluated_at == state["step"] else (evaluate(module) if evaluate else None)
    if cfg.restore_best and state["best_step"] is not None and state["best_step"] != state["step"]:
        accelerator.wait_for_everyone()
        _restore_best(run, module, state, accelerator)
        after = state["best"]
    for cb in cbs:
        cb.on_end(state)
    if phase is not None:
        _end_phase(run, module, optimizer, scheduler, state, after, phase, cfg, accelerator)
    accelerator.wait_for_everyone()
    return FitResult(state, state["before"], after, steps, resumed_from)


def _metrics_logger(run: RunDir, accelerator, phase: Phase | None) -> Callable[[dict[str, Any]], None]:
    """Rank 0 writes the run's files (the other processes train and evaluate alongside); a phase's
    records name it."""
    if not accelerator.is_main_process:
        return lambda record: None
    if phase is None:
        return run.log_metrics
    return lambda record: run.log_metrics({**record, "phase": phase.name})


def _begin(
    run: RunDir, module, optimizer, scheduler, fingerprint: dict[str, Any], accelerator, resume: bool,
    phase: Phase | None,
) -> dict[str, Any]:  # fmt: skip
    """The state training starts from: a checkpoint's (--resume), the previous phase's, or new."""
    if resume:
        return _restore(run, module, optimizer, scheduler, fingerprint, accelerator)
    state = _new_state(fingerprint)
    if phase is not None:
        state.update(phase.start or {}, phase=phase.name)
    return state


def _evaluate_before(module, evaluate: Evaluate, step: int, log_metrics) -> dict[str, Any]:
    metrics = evaluate(module)
    log_metrics({"step": step, "kind": "eval", "split": "validation", **_scalars(metrics)})
    return metrics


def _end_phase(
    run: RunDir, module, optimizer, scheduler, state: dict[str, Any], after: dict[str, Any] | None,
    phase: Phase, cfg: TrainConfig, accelerator,
) -> None:  # fmt: skip
    """A phase's final evaluation kept in its state; a phase that another follows is sealed: its
    final model checkpointed and marked done (the step it ended at has no checkpoint yet: neither a
    periodic nor a best one is written at a phase's last step)."""
    state["after"] = after
    if phase.seal:
        state["done"] = True
        _save(run, module, optimizer, scheduler, state, cfg.keep_last, accelerator)


def _start_callbacks(
    cfg: TrainConfig,
    run: RunDir,
    accelerator,
    steps: int,
    state: dict[str, Any],
    extra: Sequence[Callback],
    phase: Phase | None = None,
) -> list[Any]:
    """The progress bar (rank 0; a phase's counts the phase's steps and shows its name),
    TensorBoard when installed (rank 0), then the caller's callbacks, each told the run starts."""
    offset = state.get("phase_start", 0)
    show = cfg.progress and accelerator.is_main_process
    name = phase.name if phase is not None else None
    cbs: list[Any] = [ProgressBar(steps - offset, state["step"] - offset, show, name)]
    if accelerator.is_main_process and (tb := TensorBoard.maybe(str(run.logs_dir))) is not None:
        cbs.append(tb)
    cbs.extend(extra)
    state["total_steps"] = steps  # schedules that callbacks keep (pruning) need the run's length
    for cb in cbs:
        cb.on_start(state)
    return cbs


def _data_position(state: dict[str, Any], cfg: TrainConfig, world: int, resume: bool) -> None:
    """The data position in micro-batches (of every process) consumed, so that a run resumed with a
    different number of processes continues where the data stopped (checkpoints from before this
    was recorded: every step consumed grad_accum x world of them)."""
    state.setdefault("micro_consumed", state["step"] * cfg.grad_accum * world)
    if resume and state.get("world", world) != world:
        log.warning(
            "resuming with %d processes where the checkpoint was made with %d: the data continues at the "
            "same position; the global batch is now %d micro-batches per step (was %d)",
            world,
            state["world"],
            cfg.grad_accum * world,
            cfg.grad_accum * state["world"],
        )
    state["world"] = world


def _count(state: dict[str, Any], res: StepResult, cfg: TrainConfig, world: int) -> None:
    """What one optimizer step (of every process) adds to the run's counters."""
    state["step"] = res.step
    state["micro_consumed"] += cfg.grad_accum * world
    state["tokens_seen"] += res.tokens * world
    state["samples_seen"] = state.get("samples_seen", 0) + len(res.samples) * world
    state["train_seconds"] += res.seconds
