"""Entity markers for relation extraction: the special tokens that bracket the head (E1) and the tail
(E2) mention, typed (`[E1:PER]` ... `[/E1:PER]`) or untyped (`[E1]` ... `[/E1]`).

The markers are added to the tokenizer as special tokens (never split, never lowercased, removed by
`decode(skip_special_tokens=True)`), so the tokenizer saved with a run is the record of which
entity types the model knows. The untyped markers are always added: a mention whose type is
missing, or was never seen in training, is marked with them (counted and logged), since a typed
marker for a new type would be an untrained embedding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rawtune.errors import DataError

ROLES = ("E1", "E2")  # head, tail
_TYPED = re.compile(r"^\[E1:(.+)\]$")


def marker(role: str, kind: str | None, *, close: bool) -> str:
    slash = "/" if close else ""
    return f"[{slash}{role}:{kind}]" if kind else f"[{slash}{role}]"


def all_markers(types: Iterable[str]) -> list[str]:
    """Every marker string for the entity types `types` (the untyped ones first)."""
    kinds: list[str | None] = [None, *sorted(set(types))]
    return [marker(role, k, close=c) for k in kinds for role in ROLES for c in (False, True)]


def check_type_names(types: Iterable[str], file: str) -> None:
    for kind in types:
        if "[" in kind or "]" in kind or ":" in kind:
            raise DataError(
                f"entity type {kind!r} may not contain '[', ']' or ':' (it names a marker)", file=file
            )


def add_markers(tokenizer: Any, types: Iterable[str]) -> int:
    """Add the markers for `types` to `tokenizer` as special tokens; returns how many were new."""
    from tokenizers import AddedToken

    have = set(tokenizer.get_added_vocab())
    new = [m for m in all_markers(types) if m not in have]
    if not new:
        return 0
    tokens = [AddedToken(m, special=True, normalized=False, single_word=False) for m in new]
    return tokenizer.add_tokens(tokens, special_tokens=True)


def marker_ids(tokenizer: Any) -> list[int]:
    """The vocabulary ids of every entity marker the tokenizer has, in id order."""
    pattern = re.compile(r"^\[/?E[12](:.+)?\]$")
    return sorted(i for t, i in tokenizer.get_added_vocab().items() if pattern.match(t))


def known_types(tokenizer: Any) -> set[str]:
    """The entity types a tokenizer has typed markers for."""
    return {m.group(1) for t in tokenizer.get_added_vocab() if (m := _TYPED.match(t))}


def has_markers(tokenizer: Any) -> bool:
    vocab = tokenizer.get_added_vocab()
    return all(marker(r, None, close=c) in vocab for r in ROLES for c in (False, True))


class MarkerSet:
    """The marker ids of a tokenizer, and which markers a mention gets."""

    def __init__(self, tokenizer: Any, typed: bool):
        if not has_markers(tokenizer):
            raise DataError(
                "the tokenizer has no entity markers ([E1] ... [/E2]): load the tokenizer of a "
                "relation-extraction run, or let fine-tuning add them"
            )
        self.vocab = tokenizer.get_added_vocab()
        self.typed = typed
        self.types = known_types(tokenizer) if typed else set()
        self.fallbacks = 0  # mentions marked untyped because their type was missing or unknown

    def pick(self, role: str, kind: str | None) -> tuple[str, str]:
        if self.typed and kind not in self.types:
            self.fallbacks += 1
        use = kind if self.typed and kind in self.types else None
        return marker(role, use, close=False), marker(role, use, close=True)

    def is_start(self, token_id: int, role: str) -> bool:
        return token_id in self.start_ids(role)

    def start_ids(self, role: str) -> set[int]:
        return {i for t, i in self.vocab.items() if t == f"[{role}]" or t.startswith(f"[{role}:")}

    def ids(self) -> set[int]:
        return {i for t, i in self.vocab.items() if re.match(r"^\[/?E[12](:.+)?\]$", t)}
