"""What a tuned run saves and how it loads again.

full / freeze: RUN/model/ (save_pretrained). Methods with an adapter write RUN/adapter/ with
`rawtune_adapter.json` (method, options, head config, the base model by ref and weight fingerprint)
and the adapter weights, the task head included: peft's save_pretrained for peft methods (head via
modules_to_save), one safetensors file of the trainable parameters for rawtune's own (`native`).
Mergeable methods (LoRA, IA3, BitFit) also write the merged model to RUN/model/; the others
(prompt, prefix, adapter) keep the tokenizer in adapter/ and load as base + adapter."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from torch import nn

from rawtune.errors import ModelError
from rawtune.runs.atomic import atomic_dir, write_json
from rawtune.tuning import native
from rawtune.tuning.base import Tuned, backbone_fingerprint
from rawtune.tuning.prompt import StripVirtualTokens, unwrap

META = "rawtune_adapter.json"
_HEAD_KEYS = ("num_labels", "id2label", "label2id", "problem_type")


def _plain(model: nn.Module) -> nn.Module:
    """The transformers model inside a PeftModel (or the model itself)."""
    inner = unwrap(model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def save_tuned(
    tuned: Tuned, model_dir: Path, adapter_dir: Path, tokenizer: Any, auto_class_name: str
) -> None:
    if tuned.adapter is None:
        with atomic_dir(model_dir) as tmp:
            _save_model(tuned.model, tmp, tokenizer, auto_class_name)
        return
    config = _plain(tuned.model).config
    head = {k: getattr(config, k) for k in _HEAD_KEYS if getattr(config, k, None) is not None}
    meta = {
        "format": tuned.adapter,
        "method": tuned.method,
        "options": tuned.options,
        "mergeable": tuned.mergeable,
        "base": tuned.base,
        "auto_class": auto_class_name,
        "head": head,
    }
    with atomic_dir(adapter_dir) as tmp:
        if tuned.adapter == "peft":
            unwrap(tuned.model).save_pretrained(tmp)
        else:
            native.save(tuned.model, tmp)
        write_json(tmp / META, meta)
        if not tuned.mergeable:
            tokenizer.save_pretrained(tmp)
    if tuned.mergeable:
        with atomic_dir(model_dir) as tmp:
            _save_model(merge(tuned.model), tmp, tokenizer, auto_class_name)


def _save_model(model: nn.Module, out: Path, tokenizer: Any, auto_class_name: str) -> None:
    """save_pretrained + the tokenizer; a pruned model (fine-tuned from `compress --prune` output)
    through `save_pruned`, which writes the code and `auto_map` plain transformers needs for its
    per-layer shapes, for this run's auto class."""
    from rawtune.compress.structured import config_is_pruned, save_pruned

    if config_is_pruned(model.config):
        save_pruned(model, out, tokenizer, auto_class_name)
        return
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def merge(model: nn.Module) -> nn.Module:
    """A plain transformers model with the adapter folded into the weights (the trained head in
    place); the model itself is left as it was. A BitFit model already is one."""
    inner = unwrap(model)
    if hasattr(inner, "peft_config"):
        if inner.peft_config["default"].is_prompt_learning:
            raise ModelError(
                "a prompt-tuning adapter adds virtual tokens and cannot be merged into the weights"
            )
        return copy.deepcopy(inner).merge_and_unload()
    if any(m._forward_hooks or m._forward_pre_hooks for m in inner.modules()):
        raise ModelError(
            "this adapter runs its own modules inside the model and cannot be merged into the weights"
        )
    return copy.deepcopy(inner)


def has_adapter(path: Path) -> bool:
    return (path / META).is_file()


def read_meta(adapter_dir: Path) -> dict[str, Any]:
    meta = json.loads((adapter_dir / META).read_text())
    meta.setdefault("format", "peft")  # adapters written before rawtune had its own format
    return meta


def load_adapter(adapter_dir: Path, base: str | None = None) -> nn.Module:
    """The base model (recorded ref, or `base`) with the adapter and its head loaded, for inference.
    Refused when the base's weights are not those the adapter was trained on."""
    from rawtune.config.schema import TuningConfig
    from rawtune.modeling.heads import load_task_model
    from rawtune.tuning.base import METHODS

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
    if meta["format"] == "rawtune":
        method = METHODS.get(meta["method"])
        model = method.apply(model, TuningConfig(**meta["options"]), max_length=None)
        return native.load(model, adapter_dir)
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    config = peft_model.peft_config["default"]
    if config.is_prompt_learning and config.task_type == "TOKEN_CLS":
        return StripVirtualTokens(peft_model, config.num_virtual_tokens)
    return peft_model


def head_labels(model: nn.Module) -> dict[int, str]:
    """id2label of a task model, a PeftModel, or a prompt-tuned token classifier."""
    return {int(k): v for k, v in _plain(model).config.id2label.items()}
