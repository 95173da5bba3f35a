"""The config schema of every stage (the model, tuning, augment and compress sections in their own
modules). Defaults live in these modules and only there (never `cfg.get(key, default)`).

Why pydantic v2 rather than frozen dataclasses: it validates and coerces nested YAML and CLI strings
in one pass, reports *every* problem with its location (which we map back to YAML lines), forbids
unknown keys, and serialises the resolved config losslessly, all things dataclasses would need
hand-written code for. Models are frozen so a config cannot drift after it is written to the run.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rawtune._version import __version__
from rawtune.config.augment import FinetuneAugment
from rawtune.config.base import STAGES, PathStr, Section, get_dotted
from rawtune.config.compress import CompressConfig, GateConfig, MeasureConfig
from rawtune.config.generation import GenerationConfig, ScratchTokenizerConfig
from rawtune.config.model import ModelConfig
from rawtune.config.options import TASK, TASK_OPTIONS, TUNING, TUNING_OPTIONS
from rawtune.config.train import FinetuneTrainConfig, PretrainTrainConfig, TrainConfig

__all__ = [  # the compress section lives in its own module; importable from here too
    "CompressConfig",
    "FinetuneTrainConfig",
    "GateConfig",
    "MeasureConfig",
    "PathStr",
    "PretrainTrainConfig",
    "Section",
    "TrainConfig",
]


class TokenizerConfig(Section):
    path: PathStr | None = Field(None, description="Tokenizer dir or hub id; default: the model's own.")
    train: bool = Field(
        False, description="Train a new tokenizer on the corpus (implied by model.init=scratch)."
    )
    type: Literal["wordpiece", "bpe", "unigram"] = "wordpiece"
    vocab_size: int = Field(16000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True
    add_domain_words: int = Field(
        0, ge=0, description="Add up to N frequent corpus words the vocabulary splits, and resize embeddings."
    )
    domain_word_min_count: int = Field(20, ge=1)


class DataConfig(Section):
    corpus: list[PathStr] = Field(
        default_factory=list,
        description="Files, directories, globs, or hf:NAME[:CONFIG]; .txt .jsonl .csv .parquet, .gz.",
    )
    text_field: str = Field("text", description="Field holding the text in .jsonl/.csv/.parquet/hf: inputs.")
    document: Literal["line", "paragraph"] = Field(
        "line", description=".txt: one document per line, or per blank-line-separated paragraph."
    )
    normalize: Literal["none", "nfc", "nfkc"] = "nfc"
    min_chars: int = Field(1, ge=1, description="Drop documents shorter than this after normalisation.")
    dedupe: bool = Field(True, description="Drop exact duplicate documents (after normalisation).")
    bad_lines: Literal["error", "skip"] = Field(
        "error",
        description="A .txt/.jsonl line that is not UTF-8 text (invalid bytes, a NUL) or, in .jsonl, "
        "not a JSON object: error stops naming file and line; skip drops it, counts it and "
        "records the first ones (for crawled corpora with stray binary or a cut last line).",
    )
    validation_split: float = Field(
        0.05, ge=0.0, lt=1.0, description="Fraction of documents held out (by hash)."
    )
    validation_files: list[PathStr] = Field(
        default_factory=list, description="Explicit validation corpus instead."
    )
    max_validation_blocks: int | None = Field(512, ge=1)
    seq_len: int = Field(128, ge=8, le=8192, description="Tokens per packed block, special tokens included.")
    streaming: bool = Field(
        False, description="Tokenise on the fly for corpora larger than memory (no cache)."
    )
    cache_dir: PathStr | None = Field(
        None, description="Tokenised-corpus cache; default $RAWTUNE_CACHE or ~/.cache/rawtune."
    )
    hf_split: str = "train"


class ObjectiveConfig(Section):
    name: Literal["mlm", "clm", "span"] = Field(
        "mlm", description="mlm (encoders), clm (decoders), span: T5 span corruption (encoder-decoders)."
    )
    mask_rate: float = Field(0.15, gt=0.0, lt=1.0, description="MLM: fraction of tokens (or words) selected.")
    mask_token_frac: float = Field(0.8, ge=0.0, le=1.0, description="MLM: of selected, replaced by [MASK].")
    random_token_frac: float = Field(
        0.1, ge=0.0, le=1.0, description="MLM: of selected, replaced by a random token."
    )
    whole_word: bool = Field(
        False, description="MLM: select whole words; all their sub-tokens are masked together."
    )
    sparse_head: bool = Field(
        True,
        description="MLM: project to the vocabulary only at masked positions (same loss, far less compute).",
    )
    noise_density: float = Field(0.15, gt=0.0, lt=1.0, description="span: fraction of tokens corrupted.")
    mean_span_length: float = Field(3.0, ge=1.0, description="span: mean length of a corrupted span.")

    @model_validator(mode="after")
    def _fractions(self) -> ObjectiveConfig:
        if self.mask_token_frac + self.random_token_frac > 1.0 + 1e-9:
            raise ValueError("mask_token_frac + random_token_frac must be at most 1")
        return self


class HeadWarmupConfig(Section):
    """Training the LM head alone first, with the encoder frozen. A checkpoint saved without its
    masked-LM head (a sentence-transformers encoder, a bare AutoModel save) gets one initialised at
    random; updating the encoder through it spends the first hundreds of steps teaching the encoder
    to serve noise. Warmed up first, the head already predicts when the encoder starts to move."""

    enabled: bool | Literal["auto"] = Field(
        "auto",
        description="auto: when the checkpoint lacks the LM head's trained weights; true: also with a "
        "trained head (never from scratch); false: never.",
    )
    max_steps: int = Field(
        300,
        ge=1,
        description="At most this many steps; it ends earlier once validation loss stops improving.",
    )
    lr: float = Field(1e-3, gt=0.0, description="Learning rate of the head (constant): it starts from noise.")
    eval_steps: int = Field(25, ge=1, description="Evaluate on the validation blocks every this many steps.")
    patience: int = Field(2, ge=1, description="Evaluations without improvement that end the warm-up.")


class LabeledDataConfig(Section):
    train: PathStr | None = Field(None, description="Training file (.conll/.txt/.jsonl; .csv/.tsv/.jsonl).")
    dev: PathStr | None = Field(None, description="Development file: early stopping and model selection.")
    test: PathStr | None = Field(None, description="Test file, evaluated once with the final model.")
    token_column: int = Field(0, description="CoNLL: column of the word.")
    tag_column: int = Field(-1, description="CoNLL: column of the tag (negative counts from the end).")
    scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field(
        "auto", description="Tag scheme of the input; everything is converted to IOB2."
    )
    repair_tags: bool = Field(False, description="Turn an I-X that starts an entity into B-X (counted).")
    repair_answers: bool = Field(
        False,
        description="QA: move an answer_start that does not point at its answer text to the nearest "
        "occurrence of the text in the context (counted); otherwise such an answer is an error.",
    )
    text_column: str = "text"
    text_b_column: str = Field("text_b", description="Sentence pairs: the second text.")
    label_column: str = "label"
    multi_label_sep: str = Field("|", description="Multi-label: separator of labels in one field.")
    max_length: int = Field(
        128,
        ge=16,
        le=8192,
        description="Tokens per window, special tokens included; longer inputs "
        "are split into overlapping windows and merged back.",
    )
    stride: int = Field(32, ge=0, description="Tokens two neighbouring windows share.")
    doc_context: bool | Literal["auto"] = Field(
        "auto",
        description="NER: read each sentence in its document's context (windows over the document, every "
        "word predicted from the window where it is most central; costs the stride's overlap). auto: "
        "when the data marks documents (-DOCSTART- in CoNLL, the doc_field of JSONL, blank lines "
        "between documents in .txt); true: the same, warning when it marks none; false: sentences alone.",
    )
    doc_field: str = Field("doc", description="NER JSONL: the field naming a sentence's document.")
    max_train_examples: int | None = Field(
        None, ge=1, description="Use a seeded random subset of the training set (few-shot studies)."
    )
    train_fraction: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Use this fraction of the training set (a seeded subset; a smaller fraction's "
        "examples are a subset of a larger one's: learning curves).",
    )
    group_by_length: bool = Field(
        True, description="Batch examples of similar length together (less padding)."
    )
    extra_train: list[PathStr] = Field(
        default_factory=list,
        description="More training files, read like data.train, whose examples count data.extra_weight "
        "times in the loss: pseudo-labeled data (rawtune selftrain writes it), silver or distantly "
        "supervised data (ner, classification). Added after data.train_fraction and "
        "max_train_examples, which cut data.train only; their labels must be among data.train's.",
    )
    extra_weight: float = Field(
        1.0,
        gt=0.0,
        le=100.0,
        description="Loss weight of every example of data.extra_train (data.train's count 1 each).",
    )
    augment: FinetuneAugment = Field(
        FinetuneAugment(),
        description="--augment N: N augmented copies of each training example (ner, classification); "
        "dev and test are never augmented.",
    )
    # generation tasks (seq2seq, causal); data.max_length caps the source (causal: prompt + response)
    source_field: str = Field("source", description="Generation: field of the input text.")
    target_field: str = Field("target", description="Generation: field of the text to generate.")
    turns_field: str = Field(
        "turns", description="Generation: field of a dialogue (a list of turns); used when a line has it."
    )
    roles: list[str] = Field(
        default_factory=lambda: ["user", "assistant"],
        min_length=1,
        description="Dialogue: speakers of turns given as plain strings, in turn (objects carry 'role').",
    )
    turn_template: str = Field(
        "{role}: {text}\n",
        description="Dialogue: how each turn of the history is written; the text before {text}, for "
        "the last turn's role, ends the prompt and the last turn is the target.",
    )
    source_template: str = Field(
        "{source}",
        description="Generation: the model input made of a source, e.g. 'summarize: {source}' (T5) or "
        "'{source} TL;DR:' (causal: the response follows this prompt directly).",
    )
    max_target_length: int = Field(128, ge=1, le=8192, description="Generation: target tokens kept.")

    @model_validator(mode="after")
    def _stride(self) -> LabeledDataConfig:
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be less than half of max_length")
        for key, needed in (("source_template", "{source}"), ("turn_template", "{text}")):
            if needed not in getattr(self, key):
                raise ValueError(f"{key} must contain {needed}")
        return self


def _task_train_defaults(task: Any) -> dict[str, Any]:
    """The train.* defaults of the task a config names (none for an unknown task: validation says so)."""
    name = task.get("name") if isinstance(task, dict) else getattr(task, "name", None)
    if isinstance(name, str) and name in TASK_OPTIONS:
        return dict(TASK_OPTIONS.get(name).train_defaults)
    return {}


@STAGES.register("finetune")
class FinetuneConfig(Section):
    """`rawtune finetune`: a task head on a backbone, trained on a small labeled set."""

    stage: Literal["finetune"] = "finetune"
    rawtune_version: str = __version__
    seed: int = 42
    output: PathStr | None = Field(None, description="Run directory to create (or continue with --resume).")
    reinit_head: bool = Field(
        False, description="Replace a fine-tuned model's head whose labels differ from the data's."
    )
    model: ModelConfig = ModelConfig()
    # each task's options are its own (tasks/<task>.py), chosen by task.name; likewise each tuning
    # method's (tuning/<method>.py), chosen by tuning.method
    task: TASK.annotation = Field(  # type: ignore[valid-type]
        default_factory=TASK.factory,
        description="ner | classification | pairs | qa: extractive question answering | relations: "
        "relation extraction between two marked entity mentions | seq2seq: encoder-decoder generation "
        "(T5, BART) | causal: decoder-only (GPT-2); task.* keys are the chosen task's options.",
    )
    data: LabeledDataConfig = LabeledDataConfig()
    tuning: TUNING.annotation = Field(  # type: ignore[valid-type]
        default_factory=TUNING.factory,
        description="Which parameters train: tuning.method (full, freeze, bitfit, lora, ia3, prompt, "
        "prefix, adapter) and that method's tuning.* options.",
    )
    train: FinetuneTrainConfig = FinetuneTrainConfig()
    generation: GenerationConfig = GenerationConfig()
    tokenizer: ScratchTokenizerConfig = Field(
        ScratchTokenizerConfig(), description="model.init=scratch (generation tasks): the tokenizer trained."
    )

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        required = ["output", "data.train"]
        if get_dotted(data, "model.init") in (None, "pretrained"):
            required.append("model.name_or_path")
        return [k for k in required if not get_dotted(data, k)]

    @model_validator(mode="before")
    @classmethod
    def _method_lr(cls, data: Any) -> Any:
        """train.* keys a config does not give: the task's own defaults (`TaskOptions.train_defaults`;
        its lr under full fine-tuning only), then train.lr the tuning method's own (its options' `lr`)."""
        if not isinstance(data, dict):
            return data
        tuning, train = data.get("tuning") or {}, data.get("train") or {}
        method = tuning.get("method", TUNING.default) if isinstance(tuning, dict) else tuning.method
        given = set(train) if isinstance(train, dict) else set(train.model_fields_set)
        update = {k: v for k, v in _task_train_defaults(data.get("task")).items() if k not in given}
        if method != "full":
            update.pop("lr", None)
        if isinstance(method, str) and method in TUNING_OPTIONS and "lr" not in given and "lr" not in update:
            update["lr"] = TUNING_OPTIONS.get(method).lr
        if update:
            train = {**train, **update} if isinstance(train, dict) else train.model_copy(update=update)
            data = {**data, "train": train}
        return data

    @field_validator("model")
    @classmethod
    def _pretrained_only(cls, model: ModelConfig) -> ModelConfig:
        archs = _scratch_archs()
        if model.init != "pretrained" and model.arch not in archs.values():
            which = ", ".join(f"{arch} for {task}" for task, arch in archs.items())
            raise ValueError(
                f"init must be 'pretrained' for fine-tuning (scratch only builds a generation model: "
                f"arch {which}): pretrain from scratch first (rawtune pretrain --init scratch) and "
                "fine-tune that run"
            )
        return model

    @model_validator(mode="after")
    def _scratch_task(self) -> FinetuneConfig:
        """A model from scratch is a small generator trained on the task data alone; a classifier
        from scratch is a pretraining job."""
        arch = self.task.scratch_arch
        if self.model.init == "scratch" and arch != self.model.arch:
            need = f"model.arch={arch}" if arch else f"a generation task ({', '.join(_scratch_archs())})"
            raise ValueError(f"model.init=scratch with task {self.task.name} needs {need}")
        return self


def _scratch_archs() -> dict[str, str]:
    """{task: the architecture model.init=scratch builds for it}, for the tasks that have one."""
    archs = {name: TASK_OPTIONS.get(name).scratch_arch for name in TASK_OPTIONS}
    return {name: arch for name, arch in archs.items() if arch}


@STAGES.register("pretrain")
class PretrainConfig(Section):
    """`rawtune pretrain`: MLM / CLM on raw text, continued or from scratch."""

    stage: Literal["pretrain"] = "pretrain"
    rawtune_version: str = __version__
    seed: int = 42
    output: PathStr | None = Field(None, description="Run directory to create (or continue with --resume).")
    model: ModelConfig = ModelConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    data: DataConfig = DataConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    head_warmup: HeadWarmupConfig = HeadWarmupConfig()
    train: PretrainTrainConfig = PretrainTrainConfig()

    @model_validator(mode="after")
    def _t5_spans(self) -> PretrainConfig:
        """An encoder-decoder learns from spans, encoders and decoders from tokens."""
        t5, span = self.model.arch == "t5", self.objective.name == "span"
        if self.model.init == "scratch" and t5 != span:
            raise ValueError(
                "model.init=scratch: objective.name=span goes with model.arch=t5, and only with it"
            )
        return self

    @staticmethod
    def missing_required(data: dict) -> list[str]:
        """Keys a runnable config must set. Checked on the raw data by the loader, so that they are
        reported together with any other problem."""
        required = ["output", "data.corpus"]
        if get_dotted(data, "model.init") in (None, "pretrained"):
            required.append("model.name_or_path")
        return [k for k in required if not get_dotted(data, k)]
