"""Which vocabulary entries may replace a word: whole alphabetic words only. A continuation piece
(`##ing`, a BPE token without its word-start mark), a special token, punctuation or a number never
replaces an alphabetic word, a single letter replaces only a single letter, and a replacement takes the case pattern of the word it replaces
(`The` -> `A`, `USA` -> `UK`), so an uncased model's samples do not change capitalisation, which
NER relies on."""

from __future__ import annotations

from typing import Any

_WORD_START = ("Ġ", "▁")  # byte-level BPE and SentencePiece mark the first piece of a word


class ReplacementVocab:
    def __init__(self, tokenizer: Any, size: int):
        import torch

        vocab = tokenizer.get_vocab()
        special = set(tokenizer.all_special_ids)
        prefix = _continuation_prefix(tokenizer)
        self.texts: dict[int, str] = {}
        self.by_text: dict[str, list[int]] = {}
        valid = torch.zeros(size, dtype=torch.bool)
        single = torch.zeros(size, dtype=torch.bool)
        for token, i in vocab.items():
            if i >= size or i in special:
                continue
            text = _word_text(token, prefix)
            if text and text.isalpha():
                valid[i] = True
                single[i] = len(text) == 1
                self.texts[i] = text
                self.by_text.setdefault(text.lower(), []).append(i)
        if not self.texts:
            raise ValueError("the tokenizer has no whole alphabetic words to replace words with")
        self.valid = valid
        self.single = single  # one-letter entries ('s', 'a'): offered only for a one-letter word
        self.size = len(self.texts)

    def same_word(self, word: str) -> list[int]:
        """Token ids that spell `word` (any case): excluded, so a replacement always changes it."""
        return self.by_text.get(word.lower(), [])


def _continuation_prefix(tokenizer: Any) -> str | None:
    """'##' for WordPiece (pieces without it start a word); None for word-start-marked vocabularies."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    prefix = getattr(model, "continuing_subword_prefix", None)
    if type(model).__name__ == "WordPiece":
        return prefix or "##"
    return None


def _word_text(token: str, prefix: str | None) -> str | None:
    """The word a vocabulary entry spells when it starts a word, or None for a continuation piece."""
    if prefix is not None:
        return None if token.startswith(prefix) else token
    if token.startswith(_WORD_START):
        return token[1:]
    return None


def match_case(original: str, new: str) -> str:
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:].lower()
    return new.lower()
