"""A masked-LM model whose prediction head was trained: prompt methods (PET) score verbaliser words
with it, so a head initialised at random (a sentence-transformers encoder, a bare AutoModel save)
is refused instead of silently scoring noise."""

from __future__ import annotations

from typing import Any

from rawtune.errors import ModelError
from rawtune.modeling.backbone import missing_head


def load_trained_mlm(ref: str, cfg: Any) -> Any:
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            ref, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code, output_loading_info=True
        )
    except (OSError, ValueError) as e:
        raise ModelError(f"model {ref}: {type(e).__name__}: {e}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    head = missing_head(model, info)
    if head:
        raise ModelError(
            f"model {ref} has no trained masked-LM head (missing {head[0]}"
            f"{f' and {len(head) - 1} more' if len(head) > 1 else ''}); --learner pet scores the "
            "verbaliser words with that head: use a model saved with it (e.g. a rawtune pretrain run, "
            "bert-base-uncased), or --learner setfit"
        )
    return model


def load_masked_lm(name: str, cfg: Any, purpose: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a masked LM given as a hub id, directory or rawtune run, refused when
    its prediction head is not in the checkpoint (transformers would initialise it at random and
    every prediction would be noise). `purpose` ends the refusal: what needs the head, what to do."""
    from transformers import AutoModelForMaskedLM

    from rawtune.modeling.backbone import load_pretrained_with_info, load_tokenizer, resolve

    src = resolve(name)
    tokenizer = load_tokenizer(src.ref, cfg)
    try:
        model, info = load_pretrained_with_info(src, AutoModelForMaskedLM, cfg)
    except ModelError as e:
        raise ModelError(f"{e} ({purpose})") from None
    head = missing_head(model, info)
    if head:
        raise ModelError(
            f"model {name} has no trained masked-LM head ({len(head)} head tensors are not in the "
            f"checkpoint, e.g. {head[0]}), so its predictions would be random; {purpose}"
        )
    return model.eval(), tokenizer
