"""The contract of a labeled task, its light description, and its registry.

A task reads its files, owns the label space, encodes examples into model inputs, wraps the model
for training, and decodes predictions for evaluation, `rawtune predict` and serving: one decode
path everywhere. It also owns what callers would otherwise switch on its name for: its options
(`options`, the `task.*` keys), its primary metric and report kind, how it parses a prediction
input, and the optional steps of fine-tuning and loading (`Task`'s methods, each with a default
that does nothing). Callers outside tasks/ call these unconditionally; they never probe a task.

A task module is imported to build reports and validate configs, so it imports no torch at module
level (its torch code lives in its `*_features.py` / `*_decode.py` siblings, imported in methods):
`task_info` describes a finished run's task without torch.

A new task is one module holding its `Task` subclass and options class, registered with
`@register_task(name)`, plus its module's line in `config.options.TASK_MODULES` (or any import of
the module, for a task kept outside rawtune)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rawtune.config.options import TASK_MODULES, TASK_OPTIONS, TaskOptions
from rawtune.errors import ConfigError, ConfigIssue, DataError
from rawtune.evaluation.metrics import REPORT_KINDS, ReportKind
from rawtune.registry import Registry

if TYPE_CHECKING:
    from torch import nn


@dataclass
class Inference:
    """How to run a model for evaluation/prediction (device and precision come from the caller)."""

    batch_size: int = 32
    autocast: Callable[[], Any] | None = None
    progress: Callable[[int], None] | None = None


@dataclass(frozen=True)
class TaskInfo:
    """What reports, model cards, run info and the server say of a run's task, known from its name
    and its recorded config (no model, no torch). `Task.describe` makes it."""

    name: str
    report_kind: str  # the kind of eval report (ner, classification, multilabel, regression, ...)
    primary: tuple[str, bool]  # the metric that picks the best model, and whether greater is better
    auto_class_name: str  # the transformers AutoModelFor* class of its model
    inputs: tuple[str, ...]  # what a prediction request may hold (serve: texts, tokens, pairs, ...)
    entities: bool  # its labels are IOB2 tags of entity types (a model card lists the types)
    purpose: str  # a model card's sentence, "{labels}" standing for the label list
    sample: str | None  # an input to show in a model card's code


class Task:
    """A task's capabilities, each with its default. Subclasses set the class attributes and
    implement reading, labels, encoding, training module, evaluation and prediction."""

    name: ClassVar[str]
    options: ClassVar[type[TaskOptions]]  # its `task.*` keys, chosen by task.name
    auto_class_name: ClassVar[str]  # transformers AutoModelFor* class name
    # the kinds of report it writes (each with its primary metric); the first is its default
    report_kinds: ClassVar[dict[str, ReportKind]]
    generative: ClassVar[bool] = False  # text in, text out: no label space, records {"source", "generated"}
    needs_model_dir: ClassVar[bool] = False  # loads from RUN/model/ even where an adapter was kept
    inputs: ClassVar[tuple[str, ...]] = ("texts",)
    entities: ClassVar[bool] = False
    augmentable: ClassVar[bool] = False  # `--augment N` has an augmenter for its examples
    continual: ClassVar[bool] = False  # `rawtune continual` continues its runs (replay, head growth)
    purpose: ClassVar[str] = ""
    sample: ClassVar[str | None] = None
    # prediction files: the formats `read_inputs` streams (besides .txt lines, which every task reads
    # through `example`; none: its own reader, the file whole), and the formats records are written in
    input_formats: ClassVar[tuple[str, ...]] = ()
    output_formats: ClassVar[tuple[str, ...]] = ("jsonl",)
    # its examples carry a document (`doc`) whose sentences are predicted together, in each other's
    # context as training read them: file prediction never splits one, a .txt input's paragraphs
    # (lines between blank lines) are its documents, and a prediction input may be a document,
    # {"sentences": [...]} (the request kind "documents")
    keeps_documents: ClassVar[bool] = False

    def __init__(self, cfg: Any):
        self.cfg = cfg

    # --- description --------------------------------------------------------------------------
    @classmethod
    def describe(cls, config: Mapping[str, Any] | None = None) -> TaskInfo:
        """This task as a run with the resolved config `config` (plain data, as config.yaml holds
        it) has it; a task whose report kind or metric depends on its options reads them here."""
        kind = cls.report_kind_of(config or {})
        return TaskInfo(
            name=cls.name,
            report_kind=kind,
            primary=cls.report_kinds[kind].primary,
            auto_class_name=cls.auto_class_name,
            inputs=cls.inputs,
            entities=cls.entities,
            purpose=cls.purpose or f"Task: {cls.name}.",
            sample=cls.sample,
        )

    @classmethod
    def report_kind_of(cls, config: Mapping[str, Any]) -> str:
        return next(iter(cls.report_kinds))

    @classmethod
    def plain_task(cls, model_config: Any) -> dict[str, Any] | None:
        """The `task` section a plain `save_pretrained` model (one rawtune did not write, or an
        `export --merge` output) is used with, read from its transformers config (architecture,
        problem type), when it is a model of this task; None otherwise (the default)."""
        return None

    @property
    def info(self) -> TaskInfo:
        return self.describe(self.recorded())

    def recorded(self) -> Mapping[str, Any]:
        """The part of the config `describe` reads (as plain data)."""
        return {}

    @property
    def report_kind(self) -> str:
        return self.info.report_kind

    @property
    def primary(self) -> tuple[str, bool]:
        """The validation metric that picks the best model, and whether greater is better."""
        return self.info.primary

    # --- inputs -------------------------------------------------------------------------------
    def example(self, item: Any, where: str) -> Any:
        """The example a prediction input (a string, a list of words, an object...) gives."""
        raise DataError(f"task {self.name} cannot read {type(item).__name__} inputs", file=where)

    def raw_text(self, item: Any) -> str | None:
        """The raw text an input's predicted offsets index, where the task finds them (else None)."""
        return None

    def line_example(self, text: str, file: str, line: int) -> Any:
        """The unlabeled example one line of raw text gives (distillation on raw text)."""
        raise DataError(f"task {self.name} reads no raw text lines", file=file, line=line)

    def read_inputs(self, path: str, fmt: str) -> Iterator[Any]:
        """The unlabeled examples of a prediction file in `fmt` (one of `input_formats`), in file
        order, one at a time; the default reads the file whole with `read`."""
        return iter(self.read(path, labeled=False).examples)

    @property
    def distill_kind(self) -> str | None:
        """What a row of the model's logits scores, for distillation and compression: "tokens" (one
        row per token), a label kind ("single", "multi", "regression": one row per text), or None
        (not supported)."""
        return None

    def head_space(self, id2label: Mapping[int, str]) -> Any:
        """The label space of a saved head (id -> label)."""
        from rawtune.data.labels import LabelSpace

        if self.generative:
            return LabelSpace(())  # text in, text out (the config's default id2label means nothing)
        return LabelSpace(tuple(id2label[i] for i in sorted(id2label)))

    # --- fine-tuning, in order ----------------------------------------------------------------
    def scratch_tokenizer(self, train: Any) -> Any:
        """A tokenizer trained on the data, for a model built from scratch (model.init=scratch)."""
        issue = f"task {self.name} needs a pretrained model (model.init=pretrained)"
        raise ConfigError([ConfigIssue("model.init", issue)])

    def prepare_tokenizer(self, tokenizer: Any, train: Any) -> Any:
        """The tokenizer to train with (tokens the task adds, e.g. entity markers)."""
        return tokenizer

    def build_model(self, src: Any, tokenizer: Any, cfg: Any, space: Any) -> nn.Module | None:
        """The model to train; None: the default head model (`modeling.heads.build_task_model`)."""
        return None

    def configure_model(self, model: nn.Module, tokenizer: Any, space: Any) -> nn.Module:
        """The built model, changed before tuning (e.g. extra input features, a CRF layer)."""
        return model

    def marker_ids(self, tokenizer: Any) -> list[int] | None:
        """Input embedding rows that must train whatever the tuning method (tokens the task added)."""
        return None

    def window_batch(self, features: list[dict[str, Any]], batch_size: int) -> int:
        """Features per training batch for train.batch_size examples."""
        return batch_size

    # --- loading ------------------------------------------------------------------------------
    def restore_model(self, model: nn.Module, model_dir: str) -> nn.Module:
        """A loaded model, given back what `configure_model` added outside its architecture."""
        return model

    def with_null_threshold(self, value: float) -> None:
        """`--null-threshold` of evaluate and predict: refused where the task has no such decision."""
        why = "applies only to qa runs trained with task.unanswerable=true"
        raise ConfigError([ConfigIssue("--null-threshold", why, file="command line")])


# each module registers its task (`@register_task("ner")`); the first lookup imports them all
TASKS: Registry[type[Task]] = Registry("task", members=TASK_MODULES)


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Register a task class, its options (picked by task.name) and its report kinds."""

    def deco(cls: type[Task]) -> type[Task]:
        TASKS.register(name)(cls)
        TASK_OPTIONS.register(name)(cls.options)
        inherited = {k for base in cls.__mro__[1:] for k in getattr(base, "report_kinds", {})}
        for kind, report in cls.report_kinds.items():
            if kind not in inherited:  # a subclass shares its base's kinds
                REPORT_KINDS.register(kind)(report)
        return cls

    return deco


def get_task(cfg: Any) -> Task:
    """The task of a FinetuneConfig."""
    return TASKS.get(cfg.task.name)(cfg)


def plain_task(model_config: Any) -> dict[str, Any] | None:
    """The `task` section of the first task that reads a plain model with this transformers config
    as its own (`Task.plain_task`), or None when none does (a model without a task head)."""
    for name in TASKS:
        section = TASKS.get(name).plain_task(model_config)
        if section is not None:
            return section
    return None


def task_info(name: str | None, config: Mapping[str, Any] | None = None) -> TaskInfo | None:
    """The description of the task named `name` for a run's resolved config (plain data); None
    for no name or a name no task has (a run of another tool, or of an older rawtune)."""
    if not name or name not in TASKS:
        return None
    return TASKS.get(name).describe(config)
