"""`rawtune hpo`: an Optuna study (TPE or random sampling, median or successive-halving pruning on the
dev metric reported at every evaluation) whose trials are fine-tuning runs in OUTPUT/trial-N. The
study lives in OUTPUT/study.db (SQLite) unless `storage` names a database several workers share;
OUTPUT/trials.csv, OUTPUT/best.yaml (the best trial's fine-tuning config), OUTPUT/metrics.json and
OUTPUT/report.md (with plots) are rewritten after every trial, so an interrupted study has them."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from rawtune.config.hpo import HpoConfig
from rawtune.config.identity import check_same_config
from rawtune.config.loader import coerce_config, dump_config, load_config
from rawtune.errors import CheckpointError, RawtuneError
from rawtune.logs import setup_logging
from rawtune.runs.atomic import write_text
from rawtune.runs.rundir import RunDir

log = logging.getLogger("rawtune")
PRUNED = "pruned"  # the manifest status of a trial's run the pruner stopped


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise RawtuneError("rawtune hpo needs Optuna: pip install 'rawtune[hpo]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class Reporter:
    """A fit callback: reports the dev metric of each evaluation to the trial and stops the run
    (optuna.TrialPruned) when the pruner says so."""

    def __init__(self, trial: Any, key: str):
        self.trial, self.key = trial, key

    def on_start(self, state: dict[str, Any]) -> None:
        pass

    def on_step(self, result: Any, state: dict[str, Any]) -> None:
        pass

    def on_eval(self, step: int, metrics: dict[str, Any]) -> None:
        value = metrics.get(self.key)
        if value is None:
            return
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            import optuna

            raise optuna.TrialPruned(f"pruned at step {step} ({self.key} {value:.4f})")

    def on_end(self, state: dict[str, Any]) -> None:
        pass


def _study(cfg: HpoConfig, root: Path, direction: str, resume: bool) -> Any:
    optuna = _optuna()
    sampler = (
        optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=max(cfg.startup_trials, 1))
        if cfg.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=cfg.seed)
    )
    # a trial reports at steps eval_steps, 2 * eval_steps, ...: warm-up counted in evaluations
    warmup = cfg.warmup_evals * cfg.finetune.train.eval_steps + 1 if cfg.warmup_evals else 0
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(
            n_startup_trials=cfg.startup_trials, n_warmup_steps=warmup
        ),
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "none": lambda: optuna.pruners.NopPruner(),
    }[cfg.pruner]()
    storage = cfg.storage or f"sqlite:///{(root / 'study.db').resolve()}"
    study = optuna.create_study(
        storage=storage,
        study_name=cfg.study_name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=resume or cfg.storage is not None,
    )
    if resume:
        _fail_stale(study, root)
    return study


def _enqueue_baseline(cfg: HpoConfig, study: Any, space: list) -> None:
    from rawtune.hpo.space import baseline

    if not cfg.baseline or study.get_trials(deepcopy=False):
        return
    params = baseline(space, cfg.finetune)
    outside = [p.key for p in space if p.key not in params]
    if outside:
        log.info("baseline trial: %s sampled (the config's value is outside the space)", ", ".join(outside))
    study.enqueue_trial(params, user_attrs={"baseline": True})


def _fail_stale(study: Any, root: Path) -> None:
    """Trials of this output still RUNNING were interrupted with the study: marked failed (a trial
    another worker runs, with its run elsewhere, is left alone)."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        run = t.user_attrs.get("run")
        if run is not None and Path(run).parent.resolve() == root.resolve():
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            log.info("trial %d was interrupted: marked failed", t.number)


def _open(cfg: HpoConfig, root: Path, resume: bool) -> None:
    if resume:
        if not (root / "config.yaml").is_file():
            raise CheckpointError(f"--resume: {root} holds no hpo study (no config.yaml)")
        check_same_config(root / "config.yaml", cfg)
        return
    RunDir.check_new(root)
    root.mkdir(parents=True, exist_ok=True)
    write_text(root / "config.yaml", dump_config(cfg))


def _trial_config(cfg: HpoConfig, params: dict[str, Any], out: Path) -> Any:
    return load_config("finetune", base=cfg.finetune.model_dump(), overrides={**params, "output": str(out)})


def _fine_tune(config: Any, reporter: Reporter) -> RunDir:
    """A trial's fine-tuning run, its dev evaluations reported to the trial."""
    from rawtune.finetuning.run import prepare, run_spec, train
    from rawtune.train.run import TrainingRun

    tr = TrainingRun.open(config, config.train, resume=False)
    spec = run_spec(tr, prepare(config))
    spec.training.callbacks = [*spec.training.callbacks, reporter]
    return train(tr, spec)


def _run_trial(cfg: HpoConfig, study: Any, space: list, key: str, root: Path) -> None:
    import json

    import optuna

    trial = study.ask()
    params = {p.key: p.suggest(trial) for p in space}
    out = root / f"trial-{trial.number}"
    trial.set_user_attr("run", str(out))
    log.info("trial %d: %s", trial.number, ", ".join(f"{k}={v}" for k, v in params.items()))
    start = time.perf_counter()
    try:
        run = _fine_tune(_trial_config(cfg, params, out), Reporter(trial, key))
    except optuna.TrialPruned as e:
        RunDir(out).update_manifest(status=PRUNED, error=str(e))
        trial.set_user_attr("seconds", time.perf_counter() - start)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log.info("trial %d: %s", trial.number, e)
        return
    except RawtuneError as e:  # a trial that diverged or failed: the study goes on
        trial.set_user_attr("error", str(e))
        trial.set_user_attr("seconds", time.perf_counter() - start)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.warning("trial %d failed: %s", trial.number, e)
        return
    dev = json.loads(run.metrics_json.read_text())["dev"]
    trial.set_user_attr("seconds", time.perf_counter() - start)
    study.tell(trial, float(dev[key]))
    log.info("trial %d: dev %s %.4f", trial.number, key, dev[key])


def _metric(cfg: HpoConfig) -> tuple[str, str]:
    from rawtune.tasks.base import get_task

    key, greater = get_task(cfg.finetune).primary
    if cfg.metric is not None:
        key, greater = cfg.metric, cfg.metric not in ("loss", "mse", "mae")
    return key, "maximize" if greater else "minimize"


def run_hpo(config: Any, *, resume: bool = False) -> dict[str, Any]:
    """Run the study to `trials` finished trials (or `timeout`); returns OUTPUT/metrics.json."""
    from rawtune.hpo.results import write_results
    from rawtune.hpo.space import read_space

    cfg: HpoConfig = coerce_config("hpo", config)
    setup_logging()
    space = read_space(str(cfg.space), cfg.finetune)  # every problem before anything is created
    key, direction = _metric(cfg)
    root = Path(str(cfg.output))
    _open(cfg, root, resume)
    study = _study(cfg, root, direction, resume)
    _enqueue_baseline(cfg, study, space)
    start = time.perf_counter()
    while _finished(study) < cfg.trials:
        if cfg.timeout is not None and time.perf_counter() - start > cfg.timeout:
            log.info("hpo: timeout (%.0f s) reached after %d trials", cfg.timeout, _finished(study))
            break
        _run_trial(cfg, study, space, key, root)
        write_results(cfg, study, key, direction, root)
    return write_results(cfg, study, key, direction, root)


def _finished(study: Any) -> int:
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
