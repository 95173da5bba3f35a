"""The model steps of fine-tuning: the tokenizer (the backbone's, or a new one for a generation model
from scratch), the task model (the task's own, or a head on the backbone), its vocabulary and the
task's additions, then the tuning method."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from rawtune.config.schema import FinetuneConfig
from rawtune.modeling.backbone import Source

log = logging.getLogger("rawtune")


def load_tokenizer_for(task: Any, cfg: FinetuneConfig, train: Any) -> tuple[Source, Any]:
    """(where the model comes from, its tokenizer as the task wants it)."""
    from rawtune.modeling.backbone import load_tokenizer, resolve

    if cfg.model.init == "scratch":  # a generation task (the config checks): a small model, own tokenizer
        src, tokenizer = Source("scratch", "scratch"), task.scratch_tokenizer(train)
    else:
        src = resolve(cfg.model.name_or_path)
        tokenizer = load_tokenizer(src.ref, cfg.model)
    return src, task.prepare_tokenizer(tokenizer, train)  # relations: entity markers become special tokens


def build_model(task: Any, cfg: FinetuneConfig, src: Source, tokenizer: Any, space: Any) -> nn.Module:
    """The task's own model (generation: its LM head, no label head), else a head for `space` on the
    backbone; its initialisation is a function of the seed."""
    import torch

    from rawtune.modeling.heads import build_task_model

    torch.manual_seed(cfg.seed)
    model = task.build_model(src, tokenizer, cfg, space)
    if model is None:
        head = task.head_config(space)
        model = build_task_model(
            cfg.model, src, task.auto_class_name, head, space, reinit_head=cfg.reinit_head
        )
    return model


def complete_model(task: Any, model: nn.Module, tokenizer: Any, space: Any) -> nn.Module:
    """The model with a row for every token of the tokenizer, and the task's own parts (ner: word
    shapes, a CRF layer)."""
    fit_vocabulary(model, tokenizer)
    return task.configure_model(model, tokenizer, space)


def fit_vocabulary(model: nn.Module, tokenizer: Any) -> None:
    """Grow the input embeddings when the tokenizer has tokens the model lacks (added markers); the
    new rows start from the mean and covariance of the old ones (transformers' mean resizing)."""
    emb = model.get_input_embeddings()
    if emb is not None and len(tokenizer) > emb.weight.shape[0]:
        old = emb.weight.shape[0]
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
        log.info(
            "resized the input embeddings from %d to %d rows",
            old,
            model.get_input_embeddings().weight.shape[0],
        )


def tune(task: Any, cfg: FinetuneConfig, src: Source, tokenizer: Any, model: nn.Module) -> Any:
    """The tuning method applied (`tuning.Tuned`: the model to train, what it saves, its counts);
    tokens the task added stay trainable under a method that freezes the embeddings."""
    from rawtune.tuning import apply as apply_tuning

    added = task.marker_ids(tokenizer)
    return apply_tuning(model, cfg.tuning, base_ref=src.ref, max_length=cfg.data.max_length, tokens=added)
