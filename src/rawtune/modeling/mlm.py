"""A masked-LM model whose prediction head was trained: prompt methods (PET) score verbaliser words
with it, so a head initialised at random (a sentence-transformers encoder, a bare AutoModel save)
is refused instead of silently scoring noise."""

from __future__ import annotations

from typing import Any

from rawtune.errors import ModelError


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
    prefix = f"{model.base_model_prefix}."
    head = sorted(k for k in info.get("missing_keys") or [] if not k.startswith(prefix))
    if head:
        raise ModelError(
            f"model {ref} has no trained masked-LM head (missing {head[0]}"
            f"{f' and {len(head) - 1} more' if len(head) > 1 else ''}); --method pet scores the "
            "verbaliser words with that head: use a model saved with it (e.g. a rawtune pretrain run, "
            "bert-base-uncased), or --method setfit"
        )
    return model
