"""What a tuned run saves, and how a saved adapter goes back onto its base model.

full / freeze: RUN/model/ (save_pretrained). Methods with an adapter write RUN/adapter/ with
`rawtune_adapter.json` (method, options, head config, the base model by ref and weight fingerprint)
and the adapter weights, the task head included: peft's save_pretrained for peft methods (head via
modules_to_save), one safetensors file of the trainable parameters for rawtune's own (`native`).
Mergeable methods (LoRA, IA3, BitFit) also write the merged model to RUN/model/; the others
(prompt, prefix, adapter) keep the tokenizer in adapter/ and load as base + adapter (a finished
run is loaded by `rawtune.artifacts`, which calls `attach_adapter` here)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from rawtune.errors import ModelError
from rawtune.runs.atomic import write_json
from rawtune.tuning import native
from rawtune.tuning.base import METHODS, Tuned
from rawtune.tuning.virtual_tokens import StripVirtualTokens, unwrap

META = "rawtune_adapter.json"
_HEAD_KEYS = ("num_labels", "id2label", "label2id", "problem_type")


def plain_model(model: nn.Module) -> nn.Module:
    """The transformers model inside a PeftModel (or the model itself)."""
    inner = unwrap(model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def tuned_writers(tuned: Tuned, tokenizer: Any, auto_class_name: str) -> dict[str, Callable[[Path], None]]:
    """What a tuned run saves: {"model": ...} for full / freeze, {"adapter": ..., "model": ...} for a
    mergeable adapter, {"adapter": ...} for the others; each writes its directory's files into the
    empty directory it is given (the run skeleton renames it into place)."""
    if tuned.adapter is None:
        return {"model": lambda d: _save_model(tuned.model, d, tokenizer, auto_class_name)}

    def adapter(d: Path) -> None:
        config = plain_model(tuned.model).config
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
        if tuned.adapter == "peft":
            unwrap(tuned.model).save_pretrained(d)
        else:
            native.save(tuned.model, d)
        write_json(d / META, meta)
        if not tuned.mergeable:
            tokenizer.save_pretrained(d)

    if not tuned.mergeable:
        return {"adapter": adapter}
    return {
        "adapter": adapter,
        "model": lambda d: _save_model(merge(tuned.model), d, tokenizer, auto_class_name),
    }


def _save_model(model: nn.Module, out: Path, tokenizer: Any, auto_class_name: str) -> None:
    """save_pretrained + the tokenizer; a pruned model (fine-tuned from `compress --prune` output)
    through `save_pruned`, which writes the code and `auto_map` plain transformers needs for its
    per-layer shapes, for this run's auto class."""
    from rawtune.modeling.pruned import config_is_pruned, save_pruned

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


def attach_adapter(model: nn.Module, adapter_dir: Path, meta: dict[str, Any]) -> nn.Module:
    """The adapter saved in `adapter_dir` (its head included) put on `model`, the base model with a
    fresh head built from the recorded head config, the way its method applies it; for inference.
    `meta`: the adapter's `rawtune_adapter.json`."""
    from rawtune.config.options import TUNING

    if meta["format"] == "rawtune":
        method = METHODS.get(meta["method"])
        options = TUNING.parse({**meta["options"], "method": meta["method"]})  # an old flat one too
        model = method.apply(model, options, max_length=None)
        return native.load(model, adapter_dir)
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    config = peft_model.peft_config["default"]
    if config.is_prompt_learning and config.task_type == "TOKEN_CLS":
        return StripVirtualTokens(peft_model, config.num_virtual_tokens)
    return peft_model
