"""Options that belong to one member of a registry: a task's (`task: {name: qa, n_best: 20}`) and a
tuning method's (`tuning: {method: lora, lora_r: 8}`). Each member keeps its options class next to
its code and registers it under its name; the config section is a discriminated union over the
registered classes, selected by the section's `name` / `method` key.

The union is resolved when a config is validated, not when this module is imported: config sits
below tasks/ and tuning/ and imports neither (the registries import their member modules by name on
first lookup), and a task registered by an outside module after import (see tests/tasks) is a member
like any other. pydantic reports the chosen class's errors at their own keys (`task.n_best`), so
the loader still names file, line and key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import SerializeAsAny, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

from rawtune.config.base import Section
from rawtune.registry import Registry

# The modules of the built-in tasks and tuning methods: a new one is a module plus its line here.
# Each module registers its task (tasks.base.register_task) or method (tuning.base.register_method),
# which registers the options class below as well.
TASK_MODULES = (
    "rawtune.tasks.causal",
    "rawtune.tasks.classify",
    "rawtune.tasks.ner",
    "rawtune.tasks.qa",
    "rawtune.tasks.relations",
    "rawtune.tasks.seq2seq",
)
TUNING_MODULES = tuple(
    f"rawtune.tuning.{m}"
    for m in ("bitfit", "bottleneck", "freeze", "full", "ia3", "lora", "prefix", "prompt")
)


class TaskOptions(Section):
    """A task's options; a subclass per task adds its own (its `name` a one-value Literal)."""

    name: str
    # model.init=scratch builds a small model of this architecture for the task (generation); None:
    # the task needs a pretrained backbone
    scratch_arch: ClassVar[str | None] = None
    # the task's own train.* defaults for fine-tuning, where a config does not give the key (lr only
    # under full fine-tuning: another tuning method keeps its own rate); measured, see the task's module
    train_defaults: ClassVar[dict[str, Any]] = {}


class TuningOptions(Section):
    """A tuning method's options; a subclass per method adds its own (its `method` a one-value
    Literal)."""

    method: str
    lr: ClassVar[float] = 5e-5  # train.lr when it is not given: the method's own default

    def unfreeze_every(self) -> int:
        """Gradual unfreezing: optimiser steps between two layers starting to train (0: off)."""
        return 0


TASK_OPTIONS: Registry[type[TaskOptions]] = Registry("task", members=TASK_MODULES)
TUNING_OPTIONS: Registry[type[TuningOptions]] = Registry("tuning method", members=TUNING_MODULES)


class Selector:
    """A config section whose options class is the registry member its `key` names (`task.name`,
    `tuning.method`): `annotation` is the field's type, `factory` its default (the options of the
    member named `default`), `parse` reads a section's data (an old flat section's too)."""

    def __init__(self, registry: Registry[Any], section: str, key: str, default: str, word: str):
        self.registry, self.section, self.key, self.default, self.word = registry, section, key, default, word

    @property
    def annotation(self) -> Any:
        return Annotated[SerializeAsAny[Section], WrapValidator(self.validate), self]

    def factory(self) -> Any:
        """The default member's options, built on first use (importing the config imports no member)."""
        return self.registry.get(self.default)(**{self.key: self.default})

    def builtin_defaults(self) -> dict[str, Any]:
        """Every built-in member's options at their defaults (as JSON data), less the `key`."""
        out: dict[str, Any] = {}
        for name in self.registry:
            cls = self.registry.get(name)
            if cls.__module__ in self.registry.members:
                out.update(cls(**{self.key: name}).model_dump(mode="json"))
        out.pop(self.key, None)
        return out

    def fields(self, section: Any) -> list[str]:
        """The keys of the options class `section` (raw data) picks (the loader's did-you-mean)."""
        name = section.get(self.key, self.default) if isinstance(section, dict) else self.default
        return list(self.registry.get(name).model_fields) if name in self.registry else [self.key]

    def validate(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(value, Section):
            return value
        if not isinstance(value, dict):
            return handler(value)  # pydantic's "should be a valid dictionary"
        return self.parse(value)

    def parse(self, value: dict[str, Any]) -> Any:
        """The options a section's data picks and holds (an old flat section's too)."""
        name = value.get(self.key, self.default)
        if not isinstance(name, str) or name not in self.registry:
            expected = ", ".join(repr(n) for n in self.registry.names())
            detail = InitErrorDetails(
                type="literal_error", loc=(self.key,), input=name, ctx={"expected": expected}
            )
            raise ValidationError.from_exception_data(self.section, [detail])
        return self.registry.get(name).model_validate(self.without_others(name, value))

    def without_others(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """`data` less the keys of other members that hold their defaults; another member's key set
        to another value is an error naming the members it applies to.

        Migration: before each task and tuning method had its own options, `task` and `tuning` were
        flat sections, and every resolved config.yaml (a finished run's, a run to --resume) lists
        every key of them at its default. Those keys are dropped here, so old configs load, and
        compare on --resume, as new ones."""
        own = self.registry.get(name).model_fields
        out: dict[str, Any] = {}
        wrong: list[InitErrorDetails] = []
        for k, v in data.items():
            owners = [] if k in own else [n for n in self.registry if k in self.registry.get(n).model_fields]
            if not owners:
                out[k] = v  # own key, or unknown: the class reports it (with a did-you-mean)
            elif any(v != self.registry.get(n).model_fields[k].default for n in owners):
                members = " or ".join(repr(n) for n in owners)
                msg = f"{self.section}.{k} applies to {self.word} {members}, not '{name}'"
                err = PydanticCustomError("other_member_option", msg)
                wrong.append(InitErrorDetails(type=err, loc=(k,), input=v))
        if wrong:
            raise ValidationError.from_exception_data(self.section, wrong)
        return out


TASK = Selector(TASK_OPTIONS, "task", "name", "ner", "task")
TUNING = Selector(TUNING_OPTIONS, "tuning", "method", "full", "method")


def flat_view(data: Any) -> Any:
    """A resolved config as data (`model_dump(mode="json")`, nested sections too) with each `task`
    and `tuning` section as the flat sections before each member had its own options held it: every
    built-in member's keys, at their defaults where the chosen member has none.

    Migration: config fingerprints (in checkpoints and manifests) were computed over those flat
    sections; computed over this view, an unchanged config keeps its fingerprint, so a run written
    before resumes, and `rawtune doctor` finds its config.yaml unchanged."""
    if not isinstance(data, dict):
        return data
    out = {k: flat_view(v) for k, v in data.items()}
    for sel in (TASK, TUNING):
        section = data.get(sel.section)
        if isinstance(section, dict) and section.get(sel.key) in sel.registry:
            out[sel.section] = {**sel.builtin_defaults(), **section}
    return out
