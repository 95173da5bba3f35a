"""The `rawtune hpo` config: an Optuna study over the keys of a fine-tuning config. Each trial is a
normal `rawtune finetune` run (OUTPUT/trial-N) of `finetune` with the trial's values set."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rawtune._version import __version__
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.schema import FinetuneConfig


@STAGES.register("hpo")
class HpoConfig(Section):
    """`rawtune hpo`: search fine-tuning hyperparameters on the dev metric."""

    stage: Literal["hpo"] = "hpo"
    rawtune_version: str = __version__
    seed: int = Field(42, description="Seed of the sampler (the trials' own seed is finetune.seed).")
    output: PathStr | None = Field(None, description="Study directory to create (or continue with --resume).")
    space: PathStr | None = Field(
        None,
        description="YAML mapping config keys to ranges: train.lr: {type: float, low: 1.0e-5, high: "
        "1.0e-3, log: true}; {type: int, low, high[, step]}; {type: categorical, choices: [...]}.",
    )
    trials: int = Field(20, ge=1, description="Trials the study ends with (complete + pruned + failed).")
    timeout: float | None = Field(None, gt=0, description="Start no trial after this many seconds.")
    metric: str | None = Field(
        None, description="Dev metric to optimise (default: the task's own, e.g. f1 for ner)."
    )
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "successive_halving", "none"] = Field(
        "median", description="Stop trials whose dev metric lags at an evaluation (train.eval_steps)."
    )
    startup_trials: int = Field(
        3,
        ge=0,
        description="Trials run to the end before the median pruner prunes any, and the TPE "
        "sampler's random start.",
    )
    warmup_evals: int = Field(
        1, ge=0, description="Median pruner: evaluations of a trial before it may prune."
    )
    baseline: bool = Field(
        True,
        description="Trial 0 runs the fine-tuning config's own values (those inside the space), so the "
        "study shows what the search gained over the defaults.",
    )
    storage: str | None = Field(
        None,
        description="Optuna storage URL, for several workers on several machines (e.g. "
        "postgresql://...); default: sqlite in OUTPUT/study.db.",
    )
    study_name: str = "rawtune-hpo"
    finetune: FinetuneConfig = Field(
        FinetuneConfig(),
        description="The fine-tuning config every trial starts from (its output is ignored).",
    )

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        keys = ("output", "space", "finetune.data.train", "finetune.data.dev", "finetune.model.name_or_path")
        return [k for k in keys if not get_dotted(data, k)]
