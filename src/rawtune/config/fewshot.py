"""The `rawtune fewshot` config: k examples per class drawn from a pool, one run per seed, trained by
plain fine-tuning or SetFit-style contrastive fine-tuning plus a logistic-regression head."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rawtune._version import __version__
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.model import ModelConfig
from rawtune.config.train import FinetuneTrainConfig
from rawtune.config.zeroshot import parse_descriptions


class FewshotDataConfig(Section):
    train: PathStr | None = Field(
        None, description="The pool (.csv/.tsv/.jsonl) the k-shot sample is drawn from."
    )
    dev: PathStr | None = Field(None, description="Evaluation file (scored once, at the end of each run).")
    test: PathStr | None = Field(None, description="Test file, scored once at the end of each run.")
    text_column: str = "text"
    label_column: str = "label"
    max_length: int = Field(128, ge=16, le=8192, description="Tokens per text, special tokens included.")


class FewshotFinetuneTrainConfig(FinetuneTrainConfig):
    """Plain fine-tuning of a classification head on k examples per class: many epochs of few small
    batches, one evaluation at the end (no model selection on the dev set: a true few-shot run)."""

    epochs: float = Field(20.0, gt=0.0)
    batch_size: int = Field(8, ge=1, description="Examples per optimizer step per process.")
    lr: float = Field(5e-5, gt=0.0, description="Peak learning rate.")
    eval_steps: int = Field(100_000, ge=1)
    save_steps: int = Field(100_000, ge=1)
    eval_before: bool = Field(False, description="Evaluate once before training (the 'before' metrics).")
    restore_best: bool = Field(False, description="End with the weights of the best evaluation.")


class SetfitTrainConfig(FewshotFinetuneTrainConfig):
    """SetFit's recipe (one epoch over the generated pairs, batches of 16) with a higher body
    learning rate than SetFit's 2e-5: 5e-5 and 40 rounds measured 0.640 against 0.610 for 2e-5 and
    20 rounds on SST-2 k=8 over 5 seeds (benchmarks/README.md)."""

    epochs: float = Field(1.0, gt=0.0)
    batch_size: int = Field(16, ge=1, description="Pairs per optimizer step per process.")
    lr: float = Field(5e-5, gt=0.0, description="Peak learning rate of the encoder.")


class SetfitConfig(Section):
    iterations: int = Field(
        40,
        ge=1,
        description="Rounds of pair generation: each gives every example one positive and one negative pair.",
    )
    max_pairs: int = Field(
        2560,
        ge=2,
        description="At most this many pairs (the first rounds are kept): caps training time at large k.",
    )
    head_c: float = Field(
        1.0, gt=0.0, description="Inverse regularisation strength of the logistic-regression head."
    )
    train: SetfitTrainConfig = SetfitTrainConfig()


class PetConfig(Section):
    """PET-style prompt fine-tuning of a masked LM: a cloze template and one word per class."""

    template: str = Field(
        "{text} It was {mask}.", description="Cloze template with one {text} and one {mask}."
    )
    verbalizer: dict[str, str] | None = Field(
        None, description="One single-token word per label, e.g. {'0': 'terrible', '1': 'great'} (required)."
    )
    train: FewshotFinetuneTrainConfig = FewshotFinetuneTrainConfig()


METHODS = {"classification": ("setfit", "finetune", "pet"), "ner": ("finetune", "nnshot", "proto")}


@STAGES.register("fewshot")
class FewshotConfig(Section):
    """`rawtune fewshot`: k-shot classification, mean and std over seeds."""

    stage: Literal["fewshot"] = "fewshot"
    rawtune_version: str = __version__
    task: Literal["classification", "ner"] = Field(
        "classification",
        description="classification: k examples per class from a table; ner: k sentences per entity "
        "type from a CoNLL/JSONL token file (every type in at least k sampled sentences).",
    )
    method: Literal["setfit", "finetune", "pet", "nnshot", "proto"] = Field(
        "setfit",
        description="classification: setfit (default; contrastive pairs + logistic head), finetune (a "
        "classification head) or pet (cloze prompts, masked-LM head); ner: finetune (default; measured "
        "best), nnshot (nearest labeled word) or proto (nearest type mean), both without training.",
    )
    shots: int = Field(
        8, ge=1, description="Examples per class (ner: sentences per entity type) drawn from data.train (k)."
    )
    seeds: int = Field(1, ge=1, description="Runs, with seeds seed, seed+1, ... (OUTPUT/seed-N each).")
    seed: int = Field(0, description="The first seed: it draws the sample and initialises training.")
    output: PathStr | None = Field(
        None, description="Directory to create: OUTPUT/seed-N runs and metrics.json."
    )
    model: ModelConfig = ModelConfig()
    data: FewshotDataConfig = FewshotDataConfig()
    setfit: SetfitConfig = SetfitConfig()
    pet: PetConfig = PetConfig()
    finetune: FewshotFinetuneTrainConfig = Field(
        FewshotFinetuneTrainConfig(), description="Training of --learner finetune (the loop finetune uses)."
    )
    min_steps: int | None = Field(
        None,
        ge=0,
        description="--learner finetune: train at least this many optimizer steps (finetune.max_steps "
        "when finetune.epochs come to fewer); default 300 for ner (5 sentences per type are 3 "
        "batches an epoch), 0 for classification.",
    )
    descriptions: dict[str, list[str]] = Field(
        default_factory=dict,
        description="classification: label -> one or more descriptions (or a YAML file of that map), "
        "each added to every seed's sample as one more example of its label (setfit, finetune, pet).",
    )

    @field_validator("descriptions", mode="before")
    @classmethod
    def _descriptions(cls, value: object) -> object:
        return parse_descriptions(value)

    @model_validator(mode="before")
    @classmethod
    def _default_method(cls, data: object) -> object:
        """No method given: the task's default (setfit for classification, finetune for NER)."""
        if isinstance(data, dict) and data.get("method") is None:
            return {**data, "method": METHODS[data.get("task") or "classification"][0]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _ner_lr(cls, data: object) -> object:
        """NER fine-tuning without a given finetune.lr trains at 1e-4: the rate the few-shot NER
        numbers in the README were measured at (300 steps, batch 8)."""
        if isinstance(data, dict) and data.get("task") == "ner":
            ft = data.get("finetune") or {}
            if isinstance(ft, dict) and "lr" not in ft:
                return {**data, "finetune": {**ft, "lr": 1e-4}}
        return data

    @model_validator(mode="after")
    def _method_fits_task(self) -> FewshotConfig:
        if self.method not in METHODS[self.task]:
            raise ValueError(
                f"method {self.method} is not for task {self.task}; use one of {', '.join(METHODS[self.task])}"
            )
        return self

    @model_validator(mode="after")
    def _pet_needs_words(self) -> FewshotConfig:
        if self.method == "pet" and not self.pet.verbalizer:
            raise ValueError(
                "method pet needs pet.verbalizer: one word per label, e.g. {'0': 'terrible', '1': 'great'}"
            )
        return self

    @model_validator(mode="after")
    def _descriptions_are_for_classification(self) -> FewshotConfig:
        if self.descriptions and self.task != "classification":
            raise ValueError("descriptions are label texts for classification; task ner takes none")
        return self

    @property
    def floor_steps(self) -> int:
        """min_steps, or the task's default when it is not set."""
        if self.min_steps is not None:
            return self.min_steps
        return 300 if self.task == "ner" else 0

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        return [
            k for k in ("output", "data.train", "data.dev", "model.name_or_path") if not get_dotted(data, k)
        ]


def finetune_config(cfg: FewshotConfig, seed: int, train: str, output: str) -> Any:
    """The `rawtune finetune` config of one few-shot run: how its data files are read (and what
    `--learner finetune` trains with); a loaded few-shot run reads files and inputs through it."""
    from rawtune.config.loader import load_config

    d = cfg.data
    data = {
        "train": train,
        "dev": d.dev,
        "test": d.test,
        "max_length": d.max_length,
        "stride": min(32, d.max_length // 2 - 1),  # finetune's default, kept valid for short inputs
    }
    if cfg.task == "ner":
        task: dict[str, Any] = {"name": "ner"}
    else:
        task = {"name": "classification", "label_kind": "single"}
        data.update(text_column=d.text_column, label_column=d.label_column)
    return load_config(
        "finetune",
        base={
            "seed": seed,
            "output": output,
            "model": cfg.model.model_dump(),
            "task": task,
            "data": data,
            "train": cfg.finetune.model_dump(),
        },
    )
