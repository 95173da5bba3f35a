"""Case features for uncased backbones: the shape of each word (lower, Capitalised, ALL-CAPS, ...)
as a learned embedding added to the model's input.

An uncased tokenizer maps "Apple", "APPLE" and "apple" to the same ids, and on news NER the
capitalisation is the strongest cue for ORG and MISC. The shape goes in through the model's own
token-type embeddings: the table grows from its segment rows to one row per shape, every row
starting as the old segment-0 row (so the untrained model computes exactly what it did), and each
sub-token gets its word's shape as `token_type_ids`. Nothing is added to the architecture, so the
run's model/ is a plain `save_pretrained` BERT that `AutoModelForTokenClassification` loads, ONNX
exports with the input it already has, and int8 quantizes as before. `config.word_shapes` records
the shape names; a caller that passes no `token_type_ids` gets every word read as lower case (the
model still works, with the accuracy of an uncased model), which the model card states.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("rawtune")

# Row 0 is the old segment-0 row, and the shape of padding and special tokens.
SHAPES = ("lower", "title", "upper", "mixed", "digits", "punct", "initial_title")
LOWER, TITLE, UPPER, MIXED, DIGITS, PUNCT, INITIAL_TITLE = range(len(SHAPES))
CONFIG_KEY = "word_shapes"


def word_shape(word: str, sentence_initial: bool = False) -> int:
    """The shape id of a word. Letters decide (a word with none is digits or punctuation): all lower
    case; a capital then lower case (or a single capital, "J."), told apart at the start of a
    sentence, where English capitalises every word; all capitals; anything else is mixed ("iPhone",
    "McDonald", "F-16")."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return DIGITS if any(c.isdigit() for c in word) else PUNCT
    if not any(c.isupper() for c in letters):
        return LOWER
    has_digit = any(c.isdigit() for c in word)
    if not has_digit and letters[0].isupper() and not any(c.isupper() for c in letters[1:]):
        return INITIAL_TITLE if sentence_initial else TITLE
    if not has_digit and all(c.isupper() for c in letters):
        return UPPER
    return MIXED


def sentence_shapes(words: Sequence[str]) -> list[int]:
    return [word_shape(w, i == 0) for i, w in enumerate(words)]


def lowercases(tokenizer: Any) -> bool:
    """Whether the tokenizer throws case away (measured, not read from a flag some tokenizers lack)."""
    probe = ["Apple", "APPLE", "apple"]
    ids = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in probe]
    return ids[0] == ids[1] == ids[2]


def shape_embeddings(model: Any) -> Any:
    """The model's token-type embedding table, or None when the architecture has none."""
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    return getattr(embeddings, "token_type_embeddings", None)


def uses_shapes(model: Any) -> bool:
    """Whether the model was trained with word shapes (it then expects them as token_type_ids)."""
    config = getattr(model, "config", None)
    return bool(getattr(config, CONFIG_KEY, None))


def add_word_shapes(model: Any) -> bool:
    """Grow the token-type table to one row per shape (a model that has them already keeps its own);
    False, with a warning, for an architecture without token-type embeddings."""
    import torch
    from torch import nn

    if uses_shapes(model):
        return True
    table = shape_embeddings(model)
    if table is None:
        log.warning(
            "task.case_features: %s has no token-type embeddings to carry word shapes; training without",
            type(model).__name__,
        )
        return False
    grown = nn.Embedding(
        len(SHAPES), table.embedding_dim, device=table.weight.device, dtype=table.weight.dtype
    )
    with torch.no_grad():
        grown.weight.copy_(table.weight[0].expand(len(SHAPES), -1))
    model.base_model.embeddings.token_type_embeddings = grown
    model.config.type_vocab_size = len(SHAPES)
    setattr(model.config, CONFIG_KEY, list(SHAPES))
    embeddings = model.base_model.embeddings
    if hasattr(embeddings, "token_type_ids"):  # BERT's registered all-zero default buffer stays valid
        embeddings.token_type_ids.zero_()
    return True
