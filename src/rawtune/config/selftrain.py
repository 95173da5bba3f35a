"""The `rawtune selftrain` config: fine-tuning's own settings (model, task, data, tuning, train: the
teacher and every student are fine-tuning runs made with them) plus the raw text, how it is read,
which pseudo-labels are kept, and how the student trains on them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.schema import FinetuneConfig, LabeledDataConfig


class RawTextConfig(Section):
    """How the unlabeled text is read: by `pretrain`'s corpus readers, then cut into the units the
    teacher labels (sentences for NER, whole texts for classification)."""

    text_field: str = Field("text", description="Field holding the text in .jsonl/.csv/.parquet/hf: inputs.")
    document: Literal["line", "paragraph"] = Field(
        "line", description=".txt: one document per line, or per blank-line-separated paragraph."
    )
    normalize: Literal["none", "nfc", "nfkc"] = Field(
        "nfc", description="Unicode normalisation; whitespace runs become one space either way."
    )
    bad_lines: Literal["error", "skip"] = Field(
        "error",
        description="A .txt/.jsonl line that is not UTF-8 text or not a JSON object: error stops naming "
        "file and line; skip drops and counts it (as pretrain's data.bad_lines).",
    )
    hf_split: str = Field("train", description="Split of an hf:NAME source.")
    split: Literal["auto", "sentences", "none"] = Field(
        "auto",
        description="Cut each document into sentences (data/words.py split_sentences) or keep it whole; "
        "auto: sentences for ner, whole texts for classification.",
    )
    min_words: int = Field(3, ge=1, description="Drop units (sentences or texts) of fewer words.")
    max_words: int = Field(256, ge=1, description="Drop units of more words (tables, run-on text).")


class SelectConfig(Section):
    """Which of the teacher's predictions become pseudo-labels."""

    threshold: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="ner: keep a sentence when every entity it has scores at least this (an entity's "
        "score as predict reports it: the mean probability of its words' tags); classification: "
        "keep a text whose most likely class has at least this probability.",
    )
    per_label: float = Field(
        4.0,
        gt=0.0,
        description="Caps, so that one frequent entity type or class does not swamp the rest: a type "
        "keeps at most this many pseudo-labeled mentions per mention of it in data.train (a class: "
        "examples per example).",
    )
    max_per_label: int | None = Field(
        None, ge=1, description="And at most this many, whatever data.train has."
    )
    entity_free: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="ner: sentences without entities make at most this share of the kept ones (a "
        "teacher's missed entity hides there, and no score says so).",
    )
    balance: bool = Field(
        True,
        description="classification: keep the classes in data.train's proportions, at the largest "
        "scale every class with a confident prediction can fill.",
    )


class StudentConfig(Section):
    """How each student trains on the gold data plus the pseudo-labels."""

    weight: float = Field(
        0.5,
        gt=0.0,
        le=100.0,
        description="Loss weight of a pseudo-labeled example (a gold one counts 1): pseudo-labels are "
        "noisier than gold, and at 0.5 the gold set stays in charge when the pseudo-labeled set is "
        "many times larger.",
    )
    dropout: float | None = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="The student's noise: its hidden dropout (model.dropout; BERT-style backbones use "
        "0.1); null keeps model.dropout.",
    )
    finish_on_gold: bool = Field(
        True,
        description="Then train the student on the gold data alone, with the teacher's budget "
        "(OUTPUT/round-N-gold/, the round's model): with few gold examples the pseudo-labels outnumber "
        "them, and the gold data has the last word.",
    )


@STAGES.register("selftrain")
class SelftrainConfig(FinetuneConfig):
    """`rawtune selftrain`: a teacher labels raw text, students learn from gold + confident labels."""

    stage: Literal["selftrain"] = "selftrain"  # type: ignore[assignment]
    output: PathStr | None = Field(
        None,
        description="Directory to create: round-0/ (the teacher), pseudo/, round-N/ (the students), round-N-gold/ (finished on gold), "
        "selftrain.json (or one to continue with --resume).",
    )
    teacher: PathStr | None = Field(
        None,
        description="A finished run of the task to start from (round 0); default: fine-tune one on "
        "data.train. Its labels must be data.train's.",
    )
    rounds: int = Field(1, ge=1, le=20, description="Students trained, each labeling for the next.")
    unlabeled: list[PathStr] = Field(
        default_factory=list,
        description="Raw text: files, directories, globs, hf:NAME[:CONFIG]; .txt .jsonl .csv .parquet, .gz.",
    )
    max_unlabeled: int = Field(
        20000, ge=1, description="Label at most this many units: the first distinct ones, in corpus order."
    )
    label_batch_size: int = Field(64, ge=1, description="Units per forward pass while the teacher labels.")
    raw_text: RawTextConfig = RawTextConfig()
    select: SelectConfig = SelectConfig()
    student: StudentConfig = StudentConfig()

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        required = ["output", "data.train", "data.dev", "unlabeled"]
        if not get_dotted(data, "teacher"):
            required.append("model.name_or_path")
        return [k for k in required if not get_dotted(data, k)]

    @field_validator("task")
    @classmethod
    def _supported(cls, task: Any) -> Any:
        label_kind = getattr(task, "label_kind", "single")
        if task.name not in ("ner", "classification") or label_kind != "single":
            kind = f" ({label_kind})" if task.name == "classification" else ""
            raise ValueError(
                f"self-training supports ner and single-label classification, not {task.name}{kind}"
            )
        return task

    @field_validator("data")
    @classmethod
    def _no_extra_train(cls, data: LabeledDataConfig) -> LabeledDataConfig:
        if data.extra_train:
            raise ValueError(
                "extra_train is where self-training puts each student's pseudo-labels; "
                "add those files to data.train instead"
            )
        return data

    def finetune(self, **update: object) -> dict:
        """The fine-tuning config (as plain data) of the teacher and the students, with `update`."""
        keep = set(FinetuneConfig.model_fields) - {"stage", "rawtune_version"}
        return {**self.model_dump(mode="json", include=keep), **update}
