"""Models pruned per layer (`rawtune compress --prune`): which class builds one, and how one is saved.

A BERT-family config cannot state per-layer head or neuron counts, so the structure goes into
`config.rawtune_pruning` and `pruned_modeling.py` turns a model built from the config into that
shape. Building (fine-tuning from a pruned model), saving (a run fine-tuned from one, or the pruning
itself) and loading (`artifacts`) all go through here, so the structure has one reader and one
writer below the stages and features that use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from rawtune.modeling import pruned_modeling as pm

MODULE_FILE = "modeling_rawtune_pruned.py"


def config_is_pruned(config: Any) -> bool:
    """A model config that records a pruned structure (`config.rawtune_pruning`)."""
    return bool(getattr(config, pm.STRUCTURE_KEY, None))


def pruned_class_for(config: Any, auto_class_name: str) -> type:
    """The in-package class that builds a model of `config` (pruned) as `auto_class_name` would."""
    import transformers

    base = getattr(transformers, auto_class_name)._model_mapping[type(config)]
    return pm.pruned_class(base.__name__)


def _base_class_name(model: nn.Module) -> str:
    cls = type(model)
    return getattr(cls, "rawtune_base_class", None) or next(
        c.__name__ for c in cls.__mro__ if c.__module__.startswith("transformers.")
    )


def _uniform(config: Any, rec: dict[str, Any]) -> bool:
    """Whether a plain config can state the structure: all heads everywhere, one FFN width."""
    full = all(len(h) == config.num_attention_heads for h in rec["heads"])
    return full and len(set(rec["intermediate"])) == 1


def save_pruned(model: nn.Module, out: Path | str, tokenizer: Any, auto_class_name: str) -> None:
    """`save_pretrained` + the tokenizer. Where the structure differs per layer, also
    `modeling_rawtune_pruned.py` (pruned_modeling.py plus the class line) and `config.auto_map`, so
    `AutoModelFor*.from_pretrained(out, trust_remote_code=True)` loads it with plain transformers;
    rawtune's `artifacts.pretrained.load_task_model` loads it without remote code. Where only layers
    were dropped or every layer has the same FFN width, the config says it all and the directory is
    an ordinary transformers model."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    rec = getattr(config, pm.STRUCTURE_KEY, None)
    if rec and _uniform(config, rec):
        config.intermediate_size = rec["intermediate"][0]
        config.__dict__.pop("auto_map", None)
    elif rec:
        base = _base_class_name(model)
        name = pm.CLASS_PREFIX + base
        source = Path(pm.__file__).read_text()
        footer = f"\n\n# the class `config.auto_map` names\n{name} = pruned_class({base!r})\n"
        (out / MODULE_FILE).write_text(source + footer)
        config.auto_map = {auto_class_name: f"{MODULE_FILE.removesuffix('.py')}.{name}"}
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
