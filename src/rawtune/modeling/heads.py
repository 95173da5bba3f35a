"""Task models: a backbone with a classification head, the label-map guards, and freezing.

The guards exist because `from_pretrained` silently does the wrong thing in three classic cases:
a head trained on other labels is loaded as if it fit, the same number of labels in another order
is loaded with the rows meaning different classes, and a different head size is re-initialised
with only a log line. rawtune refuses all three, showing both label sets, unless asked to
re-initialise the head.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from rawtune.config.model import ModelConfig
from rawtune.errors import ModelError
from rawtune.modeling.backbone import Source, apply_dropout, load_pretrained

log = logging.getLogger("rawtune")
_HEAD_SUFFIXES = ("ForTokenClassification", "ForSequenceClassification")


def trained_head_labels(config: Any) -> dict[int, str] | None:
    """The label map of a checkpoint that already carries a classification head, else None."""
    archs = getattr(config, "architectures", None) or []
    if not any(a.endswith(_HEAD_SUFFIXES) for a in archs):
        return None
    return {int(k): v for k, v in (config.id2label or {}).items()}


def build_task_model(
    cfg: ModelConfig,
    src: Source,
    auto_class_name: str,
    head: dict[str, Any],
    space: Any,
    *,
    reinit_head: bool,
) -> nn.Module:
    import transformers
    from transformers import AutoConfig

    from rawtune.data.labels import LabelSpace, compare_to_model
    from rawtune.modeling.pruned import config_is_pruned, pruned_class_for

    kwargs: dict[str, Any] = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    try:
        base_config = AutoConfig.from_pretrained(src.ref, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelError(f"model {src.ref}: {type(e).__name__}: {e}") from None
    old = trained_head_labels(base_config)
    reinit = False
    if old is not None:
        # the head's own outputs: the labels, or what a task names them (relations: E1:x and E2:x)
        names = head.get("id2label")
        wanted = LabelSpace(tuple(names[i] for i in sorted(names))) if names else space
        problem = compare_to_model(wanted, old)
        if problem is not None and not reinit_head:
            raise ModelError(
                f"model {src.ref} has a trained head whose labels do not match the data: {problem}. "
                f"Model labels: {[old[i] for i in sorted(old)]}; data labels: {list(wanted.labels)}. "
                "Pass --reinit-head to train a new head on these labels."
            )
        reinit = problem is not None
    config = apply_dropout(base_config, cfg)
    for key, value in head.items():
        setattr(config, key, value)
    auto = getattr(transformers, auto_class_name)
    if config_is_pruned(base_config):
        # `rawtune compress --prune` output (or a run fine-tuned from one): per-layer head and FFN
        # counts a plain class would build at full size, then refuse or, with a head to re-initialise
        # (ignore_mismatched_sizes), silently re-initialise at full size. No remote code needed.
        auto = pruned_class_for(config, auto_class_name)
        log.info("model %s is pruned: loading its per-layer structure", src.ref)
    model = load_pretrained(src, auto, cfg, config=config, ignore_mismatched_sizes=reinit)
    if reinit:
        reinit_head_weights(model)
        log.info("re-initialised the task head for labels %s", list(space.labels))
    return model


def head_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level submodules outside the backbone (the classifier, its dropout, ...)."""
    prefix = getattr(model, "base_model_prefix", "")
    return [(n, m) for n, m in model.named_children() if n != prefix]


def reinit_head_weights(model: nn.Module) -> None:
    for _name, module in head_modules(model):
        for sub in module.modules():
            if isinstance(sub, (nn.Linear, nn.LayerNorm, nn.Embedding)):
                model._init_weights(sub)


def apply_freezing(model: nn.Module, cfg: Any) -> dict[str, int]:
    """Set requires_grad by the tuning config; returns trainable/total parameter counts."""
    base = getattr(model, model.base_model_prefix, None) if hasattr(model, "base_model_prefix") else None
    if base is None and (cfg.head_only or cfg.freeze_embeddings or cfg.freeze_layers):
        raise ModelError(f"{type(model).__name__}: cannot find the backbone to freeze")
    if cfg.head_only:
        for p in base.parameters():
            p.requires_grad_(False)
    if cfg.freeze_embeddings:
        for p in base.get_input_embeddings().parameters():
            p.requires_grad_(False)
        emb = getattr(base, "embeddings", None)
        if emb is not None:
            for p in emb.parameters():
                p.requires_grad_(False)
    if cfg.freeze_layers:
        layers = transformer_layers(base)
        if cfg.freeze_layers > len(layers):
            raise ModelError(
                f"tuning.freeze_layers={cfg.freeze_layers} but the model has {len(layers)} layers"
            )
        for layer in layers[: cfg.freeze_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total}


def transformer_layers(base: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks of a base model (BERT's encoder.layer, GPT-2's h, ...), which
    freezing, gradual unfreezing, pruning and student construction all walk."""
    for name in ("encoder.layer", "layers", "h", "encoder.layers", "transformer.layer"):
        obj: Any = base
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ModelError(f"{type(base).__name__}: cannot find its transformer layers to freeze")


def output_layer(model: nn.Module) -> nn.Linear:
    """The head's last Linear: the one whose rows are the labels (`classifier` in BERT-style heads,
    `classifier.out_proj` in RoBERTa's sequence head, `score` in decoder ones)."""
    num = model.config.num_labels
    found = [m for _n, head in head_modules(model) for m in head.modules() if isinstance(m, nn.Linear)]
    found = [m for m in found if m.out_features == num]
    if not found:
        raise ModelError(f"{type(model).__name__}: no head layer with {num} outputs to grow")
    return found[-1]


def grow_head(model: nn.Module, labels: list[str]) -> int:
    """Extend the head to `labels`, whose first entries are the model's current labels in order:
    the existing rows are copied unchanged, the new ones start at weight 0 and bias -1e4, so the
    grown model predicts exactly what it did before (call `init_new_rows` to train them). Returns
    the number of old labels."""
    import torch

    old = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if labels[: len(old)] != old:
        raise ModelError(f"the new label list must start with the model's labels {old}, got {labels}")
    layer = output_layer(model)
    n_old, n = len(old), len(labels)
    grown = nn.Linear(layer.in_features, n, bias=layer.bias is not None)
    grown.to(device=layer.weight.device, dtype=layer.weight.dtype)
    with torch.no_grad():
        grown.weight.zero_()
        grown.weight[:n_old] = layer.weight
        if layer.bias is not None:
            grown.bias.fill_(-1e4)
            grown.bias[:n_old] = layer.bias
    parent = model.get_submodule(_parent_name(model, layer))
    for name, child in parent.named_children():
        if child is layer:
            setattr(parent, name, grown)
    model.config.num_labels = n
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {lab: i for i, lab in enumerate(labels)}
    if hasattr(model, "num_labels"):
        model.num_labels = n
    return n_old


def init_new_rows(model: nn.Module, n_old: int) -> None:
    """Initialise the head rows after the first `n_old` the way the model initialises a fresh head."""
    import torch

    layer = output_layer(model)
    fresh = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    model._init_weights(fresh)
    with torch.no_grad():
        layer.weight[n_old:] = fresh.weight[n_old:].to(layer.weight.dtype)
        if layer.bias is not None:
            layer.bias[n_old:] = fresh.bias[n_old:].to(layer.bias.dtype)


def _parent_name(model: nn.Module, layer: nn.Module) -> str:
    for name, module in model.named_modules():
        if module is layer:
            return name.rpartition(".")[0]
    raise ModelError("head layer not found in the model")
