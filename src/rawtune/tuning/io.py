"""What a tuned run saves and how it loads again.

full / freeze / bitfit: RUN/model/ (save_pretrained). Peft methods: RUN/adapter/ (peft's
save_pretrained: adapter weights + adapter_config.json, the head included via modules_to_save) and
`rawtune_adapter.json` naming the base model by ref and weight fingerprint. Mergeable methods (LoRA,
IA3) also write the merged model to RUN/model/; prompt/prefix runs keep the tokenizer in adapter/ and
load as base + adapter."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from torch import nn

from rawtune.errors import ModelError
from rawtune.runs.atomic import atomic_dir, write_json
from rawtune.tuning.base import Tuned, backbone_fingerprint
from rawtune.tuning.prompt import StripVirtualTokens, unwrap

META = "rawtune_adapter.json"
_HEAD_KEYS = ("num_labels", "id2label", "label2id", "problem_type")


def save_tuned(
    tuned: Tuned, model_dir: Path, adapter_dir: Path, tokenizer: Any, auto_class_name: str
) -> None:
    if not tuned.peft:
        with atomic_dir(model_dir) as tmp:
            tuned.model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        return
    peft_model = unwrap(tuned.model)
    config = peft_model.get_base_model().config
    head = {k: getattr(config, k) for k in _HEAD_KEYS if getattr(config, k, None) is not None}
    with atomic_dir(adapter_dir) as tmp:
        peft_model.save_pretrained(tmp)
        write_json(
            tmp / META,
            {"method": tuned.method, "base": tuned.base, "auto_class": auto_class_name, "head": head},
        )
        if not tuned.mergeable:
            tokenizer.save_pretrained(tmp)
    if tuned.mergeable:
        with atomic_dir(model_dir) as tmp:
            merge(peft_model).save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)


def merge(peft_model: nn.Module) -> nn.Module:
    """A plain transformers model with the adapter folded into the weights (the trained head in
    place); the PeftModel itself is left as it was."""
    return copy.deepcopy(peft_model).merge_and_unload()


def has_adapter(path: Path) -> bool:
    return (path / META).is_file()


def load_adapter(adapter_dir: Path, base: str | None = None) -> nn.Module:
    """The base model (recorded ref, or `base`) with the adapter and its head loaded, for inference.
    Refused when the base's weights are not those the adapter was trained on."""
    from peft import PeftModel

    from rawtune.modeling.heads import load_task_model

    meta = json.loads((adapter_dir / META).read_text())
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
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    config = peft_model.peft_config["default"]
    if config.is_prompt_learning and config.task_type == "TOKEN_CLS":
        return StripVirtualTokens(peft_model, config.num_virtual_tokens)
    return peft_model


def head_labels(model: nn.Module) -> dict[int, str]:
    """id2label of a task model, a PeftModel, or a prompt-tuned token classifier."""
    inner = unwrap(model)
    config = inner.get_base_model().config if hasattr(inner, "get_base_model") else inner.config
    return {int(k): v for k, v in config.id2label.items()}
