"""The tuning contract and registry, and what every method shares: the head's module names, the
peft task type, target-module checks, the trainable-parameter report, the base-model fingerprint."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field, model_validator

from rawtune.config.options import TUNING_MODULES, TUNING_OPTIONS, TuningOptions
from rawtune.errors import ConfigError, ConfigIssue
from rawtune.registry import Registry

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger("rawtune")


class TuningMethod(Protocol):
    options: type[TuningOptions]  # its `tuning.*` options (a TuningOptions subclass)
    # what RUN/adapter/ holds: None (no adapter: RUN/model/ is the run's model), "peft" (the model is a
    # PeftModel, saved by peft) or "rawtune" (the method's trainable parameters, `tuning.native`)
    adapter: str | None
    mergeable: bool  # RUN/model/ can hold the adapter merged into the base weights

    def apply(self, model: nn.Module, cfg: Any, *, max_length: int | None) -> nn.Module:
        """Set what trains (in place, or wrapping the model); the head always trains."""
        ...


# each module registers its method (`@register_method("lora")`); the first lookup imports them all
METHODS: Registry[TuningMethod] = Registry("tuning method", members=TUNING_MODULES)


def register_method(name: str) -> Callable[[Any], Any]:
    """Register a tuning method and its options class (`cls.options`, picked by tuning.method)."""

    def deco(cls: Any) -> Any:
        METHODS.register(name)(cls)
        TUNING_OPTIONS.register(name)(cls.options)
        return cls

    return deco


class TargetOptions(TuningOptions):
    """lora and ia3: which layers get adapted."""

    target_modules: list[str] | None = Field(
        None,
        description="LoRA/IA3: module names to adapt; default: LoRA every linear layer of the backbone, "
        "IA3 peft's choice for the architecture.",
    )

    @model_validator(mode="after")
    def _some_targets(self) -> TargetOptions:
        if self.target_modules is not None and not self.target_modules:
            raise ValueError("tuning.target_modules must name at least one module (or be left unset)")
        return self


class VirtualTokenOptions(TuningOptions):
    """prompt and prefix: how many virtual tokens."""

    num_virtual_tokens: int = Field(20, ge=1, description="prompt/prefix: virtual tokens prepended.")


def tuning_options(method: str = "full", **options: Any) -> TuningOptions:
    """The options of `method` (its defaults, `options` set): what a config's `tuning` section holds."""
    return TUNING_OPTIONS.get(method)(method=method, **options)


@dataclass
class Tuned:
    model: nn.Module  # what trains, evaluates and is checkpointed
    method: str
    adapter: str | None  # None | "peft" | "rawtune" (see TuningMethod)
    mergeable: bool
    parameters: dict[str, Any]  # {"trainable", "total", "percent"}
    base: dict[str, str] | None = None  # adapter methods: {"ref", "fingerprint"} of the base model
    options: dict[str, Any] | None = None  # the tuning config, to apply the method again on load
    callbacks: list[Any] = field(default_factory=list)  # training callbacks (gradual unfreezing)


def apply(
    model: nn.Module,
    cfg: TuningOptions,
    *,
    base_ref: str,
    max_length: int | None = None,
    tokens: list[int] | None = None,
) -> Tuned:
    """Apply `cfg.method` to a task model built by `modeling.heads.build_task_model`. `tokens`: input
    embedding rows that must train whatever the method (tokens the task added, e.g. entity markers)."""
    method = METHODS.get(cfg.method)
    base = {"ref": base_ref, "fingerprint": backbone_fingerprint(model)} if method.adapter else None
    extra = {"tokens": tokens} if tokens and getattr(method, "trains_tokens", False) else {}
    tuned = method.apply(model, cfg, max_length=max_length, **extra)
    emb = model.get_input_embeddings() if tokens and not extra else None
    if emb is not None and not emb.weight.requires_grad:
        log.warning(
            "tuning %s: the %d added token embeddings stay as initialised (the method freezes the "
            "embeddings; lora and full train them)",
            cfg.method,
            len(tokens or []),
        )
    report = trainable_report(tuned)
    callbacks: list[Any] = []
    if cfg.unfreeze_every():
        from rawtune.tuning.unfreeze import GradualUnfreezing

        schedule = GradualUnfreezing(tuned, cfg.unfreeze_every())
        callbacks.append(schedule)
        log.info(
            "gradual unfreezing: the head first, then one more of %d layer groups every %d steps",
            schedule.stages() - 1,
            cfg.unfreeze_every(),
        )
    log.info(
        "tuning %s: %s of %s parameters train (%.3f%%)",
        cfg.method,
        f"{report['trainable']:,}",
        f"{report['total']:,}",
        report["percent"],
    )
    return Tuned(
        tuned, cfg.method, method.adapter, method.mergeable, report, base, cfg.model_dump(), callbacks
    )


def trainable_report(model: nn.Module) -> dict[str, Any]:
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"trainable": trainable, "total": total, "percent": round(100.0 * trainable / max(total, 1), 4)}


def head_names(model: nn.Module) -> list[str]:
    """Top-level modules outside the backbone that hold weights: `classifier` for BERT token and
    sequence classification, `score` for GPT-2 (peft's modules_to_save)."""
    from rawtune.modeling.heads import head_modules

    if _generates(model):  # an LM head is the (tied) input embedding: no separate head to save
        return []
    return [name for name, module in head_modules(model) if any(True for _ in module.parameters())]


def _generates(model: nn.Module) -> bool:
    can = getattr(model, "can_generate", None)
    return bool(callable(can) and can())


def train_only(model: nn.Module, also: Callable[[str], bool] = lambda name: False) -> None:
    """Freeze every parameter except the task head's and those `also(name)` accepts."""
    heads = tuple(f"{h}." for h in head_names(model))
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(heads) or bool(also(name)))


def task_type(model: nn.Module, method: str) -> str:
    name = type(model).__name__
    for suffix, tt in (
        ("ForTokenClassification", "TOKEN_CLS"),
        ("ForSequenceClassification", "SEQ_CLS"),
        ("ForConditionalGeneration", "SEQ_2_SEQ_LM"),
        ("ForCausalLM", "CAUSAL_LM"),
        ("LMHeadModel", "CAUSAL_LM"),
        ("ForQuestionAnswering", "QUESTION_ANS"),
    ):
        if name.endswith(suffix):
            return tt
    raise ConfigError([ConfigIssue("tuning.method", f"'{method}' does not support a {name}")])


def adaptable_modules(model: nn.Module) -> list[str]:
    """Distinct short names of the layers peft can adapt (Linear, GPT-2's Conv1D, Embedding)."""
    kinds = ("Linear", "Conv1D", "Embedding")
    names = {n.split(".")[-1] for n, m in model.named_modules() if type(m).__name__ in kinds and n}
    return sorted(names)


def check_targets(model: nn.Module, targets: list[str], key: str = "tuning.target_modules") -> None:
    """peft matches a target by the end of a module name; refuse one that matches nothing, before
    training, listing the names that do exist."""
    names = [n for n, _ in model.named_modules() if n]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise ConfigError(
            [
                ConfigIssue(
                    key,
                    f"no module named {', '.join(repr(t) for t in missing)} in {type(model).__name__}; "
                    f"its adaptable layers are: {', '.join(adaptable_modules(model))}",
                )
            ]
        )


def default_targets(model: nn.Module, mapping: dict[str, list[str]], method: str) -> list[str]:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in mapping:
        raise ConfigError(
            [
                ConfigIssue(
                    "tuning.target_modules",
                    f"no default {method} targets for model type '{model_type}'; set them, e.g. from: "
                    f"{', '.join(adaptable_modules(model))}",
                )
            ]
        )
    return list(mapping[model_type])


def backbone_fingerprint(model: nn.Module) -> str:
    """sha256 over the backbone's parameter names, shapes and values (the head excluded). Computed
    from the weights rather than files, so a hub id, a local copy and a run's model/ compare alike;
    hashing MiniLM's 22M parameters takes a fraction of a second."""
    import torch

    prefix = getattr(model, "base_model_prefix", "")
    backbone = getattr(model, prefix, None) if prefix else None
    h = hashlib.sha256()
    for name, p in sorted((backbone or model).named_parameters()):
        t = p.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]
