"""A plain `save_pretrained` model with a task head and labels, loaded as a run: a directory rawtune
did not write as a run (`rawtune export --merge` / `export`'s output, a model saved by other tools)
or a Hugging Face Hub id. Its task comes from a fine-tuning config beside it (FINETUNE_CONFIG, which
`rawtune export` writes) or else from its transformers config (`tasks.base.plain_task`: a token
classifier is NER, a sequence classifier is classification of its problem type), its labels from
the head's id2label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rawtune.artifacts.loaded import FINETUNE_CONFIG, LoadedRun
from rawtune.errors import ModelError


def plain_config(ref: str) -> Any:
    """The fine-tuning config the model `ref` (directory or hub id) is used with."""
    from rawtune.config.loader import load_config
    from rawtune.tasks.base import plain_task

    own = Path(ref) / FINETUNE_CONFIG
    if own.is_file():
        return load_config("finetune", file=own, require=False)
    model_config = _model_config(ref)
    task = plain_task(model_config)
    if task is None:
        archs = ", ".join(getattr(model_config, "architectures", None) or []) or "none recorded"
        raise ModelError(
            f"{ref}: a model without a task head rawtune predicts with (architectures: {archs}); "
            f"fine-tune it first: rawtune finetune --model {ref}"
        )
    return load_config("finetune", base={"task": task, "model": {"name_or_path": ref}}, require=False)


def _model_config(ref: str) -> Any:
    from transformers import AutoConfig

    from rawtune.modeling.backbone import Source, hub_error

    try:
        return AutoConfig.from_pretrained(ref)
    except (OSError, ValueError) as e:
        if Path(ref).is_dir():
            raise ModelError(f"model {ref}: {type(e).__name__}: {e}") from None
        raise hub_error(Source(ref, "hub"), e) from None


def load_plain(ref: str, device: str) -> LoadedRun:
    from rawtune.artifacts.adapters import head_labels
    from rawtune.artifacts.pretrained import load_task_model
    from rawtune.modeling.backbone import load_tokenizer
    from rawtune.tasks.base import get_task

    cfg = plain_config(ref)
    task = get_task(cfg)
    model = task.restore_model(load_task_model(ref, task.auto_class_name), ref)
    model.to(device)
    model.eval()
    space = task.head_space(head_labels(model))
    return LoadedRun(Path(ref), cfg, task, model, load_tokenizer(ref), space, "pretrained")
