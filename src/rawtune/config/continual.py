"""The `rawtune continual` config: re-fine-tune a finished run on new labeled data, with replay of
earlier examples and/or regularisation toward its weights, and a forgetting gate."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rawtune._version import __version__
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.train import FinetuneTrainConfig


class ContinualDataConfig(Section):
    new: PathStr | None = Field(None, description="The new labeled data (same format as the previous run's).")
    dev: PathStr | None = Field(None, description="Evaluation data of the new data's distribution or labels.")
    new_raw: list[PathStr] = Field(
        default_factory=list,
        description="Raw text of the new data's domain (files or directories): continued masked-LM "
        "training of the previous model's encoder on it first (a pretrain run at OUTPUT-mlm).",
    )
    old_dev: list[PathStr] = Field(
        default_factory=list,
        description="Earlier evaluation sets; default: every dev set of the previous run's lineage.",
    )
    old_raw: list[PathStr] = Field(
        default_factory=list,
        description="Earlier unlabeled inputs (.txt: one text per line; or CoNLL/JSONL/CSV as the task "
        "reads them): the previous model labels them and replay draws from those pseudo-labeled "
        "examples instead of earlier training data (which may be gone).",
    )


class ReplayConfig(Section):
    ratio: float = Field(
        1.0,
        ge=0.0,
        description="Earlier examples mixed in per new example (0: none); drawn from data.old_raw "
        "pseudo-labeled by the previous model, else the previous run's replay memory, else its "
        "training file.",
    )
    mask_outside: bool = Field(
        True,
        description="NER, when entity types were added: the O words of replayed earlier examples are not "
        "trained on (they were annotated before the new types existed: their O does not mean 'not ORG').",
    )
    memory: int = Field(
        5000, ge=0, description="Examples this run keeps in RUN/replay/ for the next version (old and new)."
    )


class RegularizeConfig(Section):
    method: Literal["none", "ewc", "l2sp"] = Field(
        "none",
        description="ewc: pull weights back in proportion to a Fisher estimate on earlier data; "
        "l2sp: pull every weight back equally; none.",
    )
    strength: float = Field(
        1.0,
        ge=0.0,
        description="Weight of the penalty (EWC's Fisher is normalised to mean 1, so the scale is the same "
        "for both methods).",
    )
    fisher_examples: int = Field(500, ge=1, description="EWC: earlier examples the Fisher is estimated on.")


class MlmConfig(Section):
    """The continued masked-LM step on data.new_raw (rawtune pretrain's settings otherwise)."""

    steps: int = Field(500, ge=1, description="Optimizer steps of masked-LM training.")
    batch_size: int = Field(16, ge=1)
    lr: float = Field(5e-5, gt=0.0)
    seq_len: int = Field(128, ge=16)


class ContinualTrainConfig(FinetuneTrainConfig):
    """Fine-tuning's recipe, at a lower rate: a model that already knows the task is adjusted, not
    trained from its initialisation."""

    lr: float = Field(3e-5, gt=0.0, description="Peak learning rate.")


@STAGES.register("continual")
class ContinualConfig(Section):
    """`rawtune continual`: the next version of a model from new labeled data."""

    stage: Literal["continual"] = "continual"
    rawtune_version: str = __version__
    previous: PathStr | None = Field(None, description="The run to continue from (finetune or continual).")
    output: PathStr | None = Field(None, description="Run directory to create.")
    seed: int = 42
    data: ContinualDataConfig = ContinualDataConfig()
    replay: ReplayConfig = ReplayConfig()
    regularize: RegularizeConfig = RegularizeConfig()
    train: ContinualTrainConfig = ContinualTrainConfig()
    mlm: MlmConfig = MlmConfig()
    max_forgetting: float | None = Field(
        None,
        ge=0.0,
        description="Points of the primary metric (F1/accuracy x 100) the model may lose on any earlier "
        "evaluation set; more fails the gate (exit 4, never promoted).",
    )
    if_new: bool = Field(False, description="Do nothing when data.new was already used by this lineage.")
    name: str | None = Field(
        None, description="Registry name to record this version under (a candidate; see rawtune models)."
    )
    promote: bool = Field(False, description="With name: promote it when the gate passes.")

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        return [k for k in ("previous", "output", "data.new") if not get_dotted(data, k)]
