"""The examples labeled readers produce, each carrying the file and line it came from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenExample:
    """A sentence for token classification (NER). Tags are IOB2 after reading; None when unlabeled."""

    tokens: list[str]
    tags: list[str] | None
    file: str
    line: int  # 1-based line of the sentence's first token
    doc: int | None = None  # document index (from -DOCSTART- lines) when known
    spans: list[tuple[int, int]] | None = None  # character offsets of the tokens in raw text input
    # the example's loss weight: below 1 for pseudo-labeled examples (data.extra_train). Left out of
    # repr, which the data fingerprint hashes: an unweighted set keeps the fingerprint it always had,
    # and the weights are in the config's (data.extra_train)
    weight: float = field(default=1.0, repr=False)


@dataclass(frozen=True)
class TextExample:
    """A text (or text pair) for classification. `label` is a str (single-label), a list of str
    (multi-label), a float (regression) or None (unlabeled)."""

    text: str
    label: str | list[str] | float | None
    file: str
    line: int  # 1-based physical line where the row starts
    text_b: str | None = None
    weight: float = field(default=1.0, repr=False)  # the loss weight, as in TokenExample


@dataclass(frozen=True)
class TokenData:
    examples: list[TokenExample]
    file: str
    scheme: str  # the input's tag scheme, declared or detected: "iob1", "iob2", "bioes" ("none" unlabeled)
    repairs: int = 0  # I- tags that started an entity and were turned into B- (repair=True)
    n_docs: int = 0  # documents marked by -DOCSTART- lines (0 when the file has none)


@dataclass(frozen=True)
class TextData:
    examples: list[TextExample]
    file: str
    columns: list[str] = field(default_factory=list)  # header (CSV/TSV) or keys seen (JSONL)
