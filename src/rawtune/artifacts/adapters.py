"""A run's adapter (RUN/adapter/, `rawtune_adapter.json`): peft's (LoRA, IA3, prompt) or rawtune's
own (BitFit, bottleneck, prefix), loaded on the base model it was trained on (the recorded one, or
one named by the caller), which must have the recorded weights. What each method writes and how it
puts its weights back is `tuning.io`'s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from rawtune.artifacts.pretrained import load_task_model
from rawtune.errors import ModelError
from rawtune.tuning.base import backbone_fingerprint
from rawtune.tuning.io import META, attach_adapter, plain_model


def has_adapter(path: Path) -> bool:
    return (Path(path) / META).is_file()


def read_meta(adapter_dir: Path) -> dict[str, Any]:
    meta = json.loads((Path(adapter_dir) / META).read_text())
    meta.setdefault("format", "peft")  # adapters written before rawtune had its own format
    return meta


def load_adapter(adapter_dir: Path, base: str | None = None) -> nn.Module:
    """The base model (recorded ref, or `base`) with the adapter and its head loaded, for inference.
    Refused when the base's weights are not those the adapter was trained on."""
    meta = read_meta(adapter_dir)
    expected = meta["base"]
    ref = base or expected["ref"]
    head = dict(meta["head"])
    if "id2label" in head:  # JSON keys are strings
        head["id2label"] = {int(k): v for k, v in head["id2label"].items()}
    model = load_task_model(ref, meta["auto_class"], **head)
    actual = backbone_fingerprint(model)
    if actual != expected["fingerprint"]:
        raise ModelError(
            f"adapter {adapter_dir} was trained on base model {expected['ref']} (weights fingerprint "
            f"{expected['fingerprint']}), but {ref} has fingerprint {actual}: a different model"
        )
    return attach_adapter(model, adapter_dir, meta)


def head_labels(model: nn.Module) -> dict[int, str]:
    """id2label of a task model, a PeftModel, or a prompt-tuned token classifier."""
    return {int(k): v for k, v in plain_model(model).config.id2label.items()}
