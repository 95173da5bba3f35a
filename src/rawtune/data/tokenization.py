"""What the data floor needs of a tokenizer: its Rust backend (the corpus packer encodes with it) and
its fingerprint (part of a packed corpus's cache key). Tokenizers are trained and loaded in
`modeling/`; these only read one, so data/ never imports modeling/."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from rawtune.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast


def fast_backend(tokenizer: PreTrainedTokenizerFast) -> Tokenizer:
    """A private copy of the Rust tokenizer without the truncation/padding a saved one may carry."""
    from tokenizers import Tokenizer

    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"a fast (Rust-backed) tokenizer is needed, got {type(tokenizer).__name__}")
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerFast) -> str:
    """sha256 of the tokenizer definition, its added tokens and special-token roles."""
    specials = {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())}
    added = {str(i): str(t) for i, t in sorted(tokenizer.added_tokens_decoder.items())}
    payload = json.dumps(
        {"backend": fast_backend(tokenizer).to_str(), "special": specials, "added": added}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()
