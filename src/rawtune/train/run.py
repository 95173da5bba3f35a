"""One training run, the same for every stage that trains: pretrain, finetune (continual, hpo trials
and few-shot fine-tuning through it), SetFit and PET. A stage opens the run before any work
(`TrainingRun.open`: a new output must be empty, a --resume must continue the config it started
with), builds its model and data, and hands `TrainingRun.train` a `RunSpec`: the skeleton creates
the run (config.yaml, manifest.json), logs into it, trains with `fit`, concludes (final scores and
reports: metrics.json), saves the final model atomically, marks the run complete and writes its
report; a failure on the way is recorded in the manifest. The compress methods that train use
`Training` alone, inside the compress run.

A run may train in phases (pretraining warms a new LM head up with the encoder frozen, then trains
the whole model): `RunSpec.warmup` lists the `Training`s that come before `RunSpec.training`. They
share the run's directory, step numbers, metrics log (each record names its phase) and checkpoints
(each names its phase; a finished phase's last one is sealed), so a --resume continues in whichever
phase the newest checkpoint was made.

Under `accelerate launch` / torchrun every process trains and evaluates; rank 0 alone writes the
run's files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from rawtune.config.identity import check_same_config
from rawtune.config.loader import dump_config
from rawtune.config.train import TrainConfig
from rawtune.data.batching import BatchStream
from rawtune.errors import CheckpointError
from rawtune.logs import close_logfile, setup_logging
from rawtune.runs.atomic import atomic_dir, write_json, write_text
from rawtune.runs.rundir import COMPLETE, RunDir, records_failure
from rawtune.train.accelerator import make_accelerator
from rawtune.train.callbacks import Callback
from rawtune.train.fit import Evaluate, FitResult, Phase, fit, next_phase, phase_record

log = logging.getLogger("rawtune")
Writer = Callable[[Path], None]  # writes its files into the new, empty directory it is given


@dataclass
class Training:
    """What `fit` trains: the training module (its `.model` is what is kept), the batches, the
    loop's settings and seed, the fingerprint its checkpoints carry (a --resume with other data or
    config is refused), and how the best evaluation is picked (`select`: a validation metric and
    whether greater is better). In a run trained in phases, `phase` names this one and `enter`
    readies the model for it (freezes or thaws parameters) before its optimizer is built."""

    module: nn.Module
    stream: BatchStream
    train: TrainConfig
    seed: int
    fingerprint: dict[str, Any]
    evaluate: Evaluate | None = None
    select: tuple[str, bool] = ("loss", False)
    callbacks: Sequence[Callback] = ()
    phase: str | None = None
    enter: Callable[[], None] | None = None

    def fit(self, run: RunDir, accelerator: Any, resume: bool, phase: Phase | None = None) -> FitResult:
        if self.enter is not None:
            self.enter()
        return fit(
            self.module,
            self.stream,
            cfg=self.train,
            run=run,
            accelerator=accelerator,
            seed=self.seed,
            evaluate=self.evaluate,
            fingerprint=self.fingerprint,
            resume=resume,
            select=self.select,
            callbacks=self.callbacks,
            phase=phase,
        )


def fit_phases(trainings: Sequence[Training], run: RunDir, accelerator: Any, resume: bool) -> FitResult:
    """Each phase in turn, each starting where the previous one ended (one alone: an ordinary fit).
    A --resume starts in the phase of the newest verified checkpoint (one that names no phase was
    made by a run trained in one: the last phase); the phases before it are done."""
    if len(trainings) == 1:
        return trainings[0].fit(run, accelerator, resume)
    names = [t.phase or f"phase-{i + 1}" for i, t in enumerate(trainings)]
    first = _resumed_phase(run, names) if resume else 0
    phase = Phase(names[first], seal=first < len(trainings) - 1)
    resumed_from = None
    for i in range(first, len(trainings)):
        result = trainings[i].fit(run, accelerator, resume and i == first, phase)
        resumed_from = result.resumed_from if i == first else resumed_from
        if i + 1 < len(trainings):
            phase = next_phase(names[i + 1], result.state, seal=i + 2 < len(trainings))
    result.phases = [*result.state.get("phases", []), phase_record(result.state)]
    result.before, result.resumed_from = result.phases[0]["before"], resumed_from
    return result


def _resumed_phase(run: RunDir, names: list[str]) -> int:
    from rawtune.runs.checkpoint import latest_verified, read_state

    ckpt = latest_verified(run.checkpoints_dir, lambda msg: None)  # fit's resume warns and refuses
    if ckpt is None:
        return 0
    name = read_state(ckpt).get("phase")
    return names.index(name) if name in names else len(names) - 1


@dataclass
class RunSpec:
    """One run of a training stage, its model and data built. `conclude` turns the fit into the
    run's summary (metrics.json): final scores, evaluation reports; `save` names each directory of
    the finished run (RUN/model/, RUN/adapter/) and what writes it."""

    manifest: dict[str, Any]  # of a new run; status, times and environment are added
    training: Training
    conclude: Callable[[FitResult], dict[str, Any]]
    save: dict[str, Writer]
    files: dict[str, Any] = field(default_factory=dict)  # more files of a new run: JSON, or text as str
    report: Callable[[Path], Any] | None = None  # RUN/report.html, once the run is complete
    warmup: Sequence[Training] = ()  # phases trained before `training`, in order


@dataclass
class Trained:
    run: RunDir
    fit: FitResult
    summary: dict[str, Any]  # metrics.json


def save(run: RunDir, writers: dict[str, Writer]) -> None:
    """Each directory of a finished run (RUN/model/, RUN/adapter/) written into a temp directory
    beside it, fsynced and renamed into place: a reader never sees half a model."""
    for name, write in writers.items():
        with atomic_dir(run.path / name) as tmp:
            write(tmp)


def check_resume_config(run: RunDir, cfg: Any) -> None:
    """--resume must continue the same run: refuse when the config differs, naming the keys."""
    if not RunDir.is_run(run.path):
        raise CheckpointError(
            f"--resume: {run.path} is not a rawtune run directory (no config.yaml/manifest.json)"
        )
    check_same_config(run.config_path, cfg)


def prepare_run(cfg: Any, resume: bool) -> tuple[RunDir, bool]:
    """The run directory of `cfg.output`: new (refused if it holds anything), or, with resume, the
    existing run after checking its config is this one. Returns (run, already complete)."""
    run = RunDir(Path(cfg.output))
    if resume:
        check_resume_config(run, cfg)
        return run, run.status == COMPLETE
    RunDir.check_new(run.path)
    return run, False


class TrainingRun:
    """A training stage's run from the moment it is opened: `config` (the stage's own config,
    written to RUN/config.yaml), its directory, the Accelerator, and whether it resumes."""

    def __init__(self, config: Any, run: RunDir, accelerator: Any, resume: bool, done: bool):
        self.config, self.run, self.accelerator = config, run, accelerator
        self.resume, self.done = resume, done

    @classmethod
    def open(cls, config: Any, train: TrainConfig, *, resume: bool) -> TrainingRun:
        """Every process checks the output before any creates the run (a process that looked after
        rank 0 created it would refuse an output that 'exists'). `done`: a --resume of a run that
        is already complete, which has nothing left to do."""
        from transformers.utils import logging as hf_logging

        setup_logging()
        close_logfile()  # until this run's own RUN/logs/train.log exists, stderr only
        hf_logging.disable_progress_bar()  # our own progress bar and log lines say what happens
        accelerator = make_accelerator(train)
        if not accelerator.is_main_process:  # rank 0 speaks for the run; the other processes only warn
            log.setLevel(logging.WARNING)
        run, done = prepare_run(config, resume)
        accelerator.wait_for_everyone()
        if done:
            log.info("%s is already complete; nothing to resume", run.path)
        return cls(config, run, accelerator, resume, done)

    @property
    def main(self) -> bool:
        """This process writes the run's files (rank 0)."""
        return bool(self.accelerator.is_main_process)

    def train(self, spec: RunSpec) -> Trained:
        """Create the run (unless it resumes), train, conclude and save; a failure on the way is
        recorded in the manifest and raised. The run is complete once metrics.json and the manifest's
        file list are written; its report comes last."""
        run = self.run
        choice = self.accelerator.precision_choice
        if not self.resume:
            if self.main:
                manifest = {
                    **spec.manifest,
                    "precision": {"used": choice.precision, "decided_by": choice.reason},
                }
                RunDir.create(run.path, dump_config(self.config), manifest)
                for name, obj in spec.files.items():
                    (write_text if isinstance(obj, str) else write_json)(run.path / name, obj)
            self.accelerator.wait_for_everyone()
        if self.main:  # rank 0 logs to RUN/logs/train.log and stderr
            setup_logging(run.logs_dir / "train.log")
            log.info(choice.describe())
        with records_failure(run, self.main):
            result = fit_phases([*spec.warmup, spec.training], run, self.accelerator, self.resume)
            summary = spec.conclude(result)
            if self.main:
                save(run, spec.save)
        if self.main:
            run.finish(summary)
            train = spec.training.train
            best = result.state.get("best_step")
            differs = not train.restore_best and best is not None and best != result.state["step"]
            run.release_checkpoints(train.keep_checkpoints, best if differs else None)
            if spec.report is not None:
                spec.report(run.path)  # a problem is a warning, never a failed run
        return Trained(run, result, summary)
