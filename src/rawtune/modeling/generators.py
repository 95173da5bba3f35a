"""Generation models: an `AutoModelForSeq2SeqLM` / `AutoModelForCausalLM` from a checkpoint, or a
small T5 / GPT-2 built from scratch with a tokenizer trained on the task's own texts."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from rawtune.modeling.backbone import Source, apply_dropout, load_pretrained, scratch_config

log = logging.getLogger("rawtune")


def build_generator(cfg: Any, src: Source, auto_class_name: str, tokenizer: Any) -> Any:
    """The model of a FinetuneConfig (`cfg.model.init` pretrained or scratch) for `tokenizer`: the
    embeddings grow when the tokenizer has more tokens, and a model without a pad token (GPT-2)
    pads with the tokenizer's."""
    import transformers

    from rawtune.modeling.tokenizers import pad_id

    auto = getattr(transformers, auto_class_name)
    if cfg.model.init == "scratch":
        config = scratch_config(cfg.model, tokenizer, max_positions=cfg.data.max_length)
        model = auto.from_config(apply_dropout(config, cfg.model))
        log.info("built a %s from scratch: %s parameters", config.model_type, f"{model.num_parameters():,}")
    else:
        model = load_pretrained(src, auto, cfg.model)
    _check_positions(model, cfg, auto_class_name)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = pad_id(tokenizer)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = model.config.pad_token_id
    return model


def _check_positions(model: Any, cfg: Any, auto_class_name: str) -> None:
    """Refuse lengths past the model's learned positions (an index error deep inside otherwise)."""
    from rawtune.errors import ConfigError, ConfigIssue

    limit = getattr(model.config, "max_position_embeddings", None)
    if not limit:  # T5: relative positions, no limit
        return
    d, gen = cfg.data, cfg.generation
    if auto_class_name == "AutoModelForCausalLM":  # prompt + response, or prompt + generated
        need = {"data.max_length": d.max_length}
    else:
        need = {"data.max_length": d.max_length, "data.max_target_length": d.max_target_length}
        need["generation.max_new_tokens"] = gen.max_new_tokens + 1  # + the decoder's start token
    issues = [
        ConfigIssue(key, f"{value} exceeds the model's {limit} positions")
        for key, value in need.items()
        if value > limit
    ]
    if issues:
        raise ConfigError(issues)


def train_scratch_tokenizer(cfg: Any, texts: list[str]) -> Any:
    """A tokenizer (cfg.tokenizer: type, vocab size) trained on `texts`, the training sources and
    targets; it is saved with the model in RUN/model/."""
    from rawtune.config.schema import DataConfig
    from rawtune.modeling.tokenizers import train_tokenizer

    t = cfg.tokenizer
    log.info("training a %s tokenizer (vocab %d) on the training texts", t.type, t.vocab_size)
    with tempfile.TemporaryDirectory(prefix="rawtune-tok-") as tmp:
        corpus = Path(tmp) / "texts.txt"
        corpus.write_text("\n".join(" ".join(x.split()) for x in texts) + "\n", encoding="utf-8")
        return train_tokenizer(
            [str(corpus)],
            Path(tmp) / "tokenizer",
            type=t.type,
            vocab_size=t.vocab_size,
            min_frequency=t.min_frequency,
            lowercase=t.lowercase,
            data_cfg=DataConfig(dedupe=False, min_chars=1),
            model_max_length=cfg.data.max_length,
        )
