"""Few-shot NER without training: tag each word of a sentence by its nearest labeled word in a
k-shot support set, over contextual embeddings of the backbone (NNShot, Yang & Katiyar 2020), or by
the nearest type prototype (the mean embedding of a type's words; Snell et al. 2017).

Both work in the IO scheme, as few-shot NER usually does: a word is a type or O, and a run of words of
one type is one entity (B- on its first word). Two adjacent entities of one type merge; with k
sentences per type there is too little B-/I- evidence to tell them apart anyway.

Written by hand because no maintained library does token-level nearest-neighbour tagging over a
transformers backbone; the embeddings come from transformers and the metrics from seqeval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rawtune.train.devices import model_device, to_device

OUTSIDE = "O"


def io_labels(tags: Sequence[str]) -> list[str]:
    """IOB2 tags -> type or O per word."""
    return [t.split("-", 1)[1] if t != OUTSIDE and "-" in t else OUTSIDE for t in tags]


def to_iob2(labels: Sequence[str]) -> list[str]:
    """Type-or-O per word -> IOB2: the first word of each run of one type gets B-."""
    out, prev = [], OUTSIDE
    for lab in labels:
        out.append(OUTSIDE if lab == OUTSIDE else (f"I-{lab}" if lab == prev else f"B-{lab}"))
        prev = lab
    return out


@torch.inference_mode()
def embed_words(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    batch_size: int = 32,
    max_length: int = 512,
) -> list[torch.Tensor]:
    """One L2-normalised vector per word: the last hidden state of its first sub-token. A word cut off
    by `max_length` gets the vector of the last sub-token kept (rare: 512 sub-tokens)."""
    model.eval()
    out: list[torch.Tensor] = []
    for start in range(0, len(sentences), batch_size):
        batch = [list(s) for s in sentences[start : start + batch_size]]
        enc = tokenizer(
            batch,
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        inputs = to_device({k: enc[k] for k in ("input_ids", "attention_mask")}, model_device(model))
        hidden = model(**inputs).last_hidden_state
        hidden = torch.nn.functional.normalize(hidden.float(), dim=-1).cpu()  # kept beside the support set
        for i, words in enumerate(batch):
            first: dict[int, int] = {}
            for pos, w in enumerate(enc.word_ids(i)):
                if w is not None:
                    first.setdefault(w, pos)
            last = max(first.values(), default=0)
            out.append(torch.stack([hidden[i, first.get(w, last)] for w in range(len(words))]).cpu())
    return out


@dataclass
class WordNeighbours:
    """The labeled words of a support set. `method`: "nnshot" (the nearest word's label) or
    "proto" (the nearest type mean)."""

    vectors: torch.Tensor  # [n_words, hidden], normalised
    labels: list[str]  # type or O per word
    method: str = "nnshot"

    @classmethod
    def from_support(
        cls, vectors: Sequence[torch.Tensor], tags: Sequence[Sequence[str]], method: str = "nnshot"
    ) -> WordNeighbours:
        if method not in ("nnshot", "proto"):
            raise ValueError(f"method must be nnshot or proto, not {method!r}")
        labels = [lab for sent in tags for lab in io_labels(sent)]
        return cls(torch.cat(list(vectors)), labels, method)

    def classes(self) -> tuple[list[str], torch.Tensor]:
        """(class of each row, rows) that a query word is compared with."""
        if self.method == "nnshot":
            return self.labels, self.vectors
        names = sorted(set(self.labels))
        index = torch.tensor([names.index(lab) for lab in self.labels])
        means = torch.zeros(len(names), self.vectors.shape[1]).index_add_(0, index, self.vectors)
        return names, torch.nn.functional.normalize(means, dim=-1)

    def predict(self, sentences: Sequence[torch.Tensor], chunk: int = 4096) -> list[list[str]]:
        """IOB2 tags per sentence."""
        return self.decide(sentences, chunk)[0]

    def decide(
        self, sentences: Sequence[torch.Tensor], chunk: int = 4096
    ) -> tuple[list[list[str]], list[list[float]]]:
        """(IOB2 tags, each word's cosine similarity to the row that labeled it) per sentence."""
        names, rows = self.classes()
        flat = torch.cat(list(sentences)) if sentences else torch.empty(0, rows.shape[1])
        parts = [(flat[i : i + chunk] @ rows.T).max(dim=1) for i in range(0, len(flat), chunk)]
        best = torch.cat([p.indices for p in parts]) if parts else torch.empty(0, dtype=torch.long)
        sims = torch.cat([p.values for p in parts]) if parts else torch.empty(0)
        words, scores = [names[j] for j in best.tolist()], sims.tolist()
        tags, out_scores, at = [], [], 0
        for s in sentences:
            tags.append(to_iob2(words[at : at + len(s)]))
            out_scores.append(scores[at : at + len(s)])
            at += len(s)
        return tags, out_scores


class NeighbourTagger(torch.nn.Module):
    """A few-shot NER run's tagger (nnshot or proto): its encoder and the support set's labeled
    words, embedded at load as the run embedded them. `tag` gives IOB2 tags and word scores (cosine
    similarity) per sentence. The model of `tasks.scored.ScoredNerTask`."""

    def __init__(self, encoder: Any, neighbours: WordNeighbours, max_length: int):
        super().__init__()
        self.encoder, self.neighbours, self.max_length = encoder, neighbours, max_length

    @classmethod
    def from_support(
        cls,
        encoder: Any,
        tokenizer: Any,
        support: Sequence[tuple[Sequence[str], Sequence[str]]],
        method: str,
        max_length: int,
    ) -> NeighbourTagger:
        """`support`: (words, IOB2 tags) of each support sentence."""
        vectors = embed_words(encoder, tokenizer, [w for w, _ in support], max_length=max_length)
        return cls(encoder, WordNeighbours.from_support(vectors, [t for _, t in support], method), max_length)

    def tag(
        self, tokenizer: Any, sentences: Sequence[Sequence[str]], batch_size: int
    ) -> tuple[list[list[str]], list[list[float]]]:
        vectors = embed_words(self.encoder, tokenizer, sentences, batch_size, self.max_length)
        return self.neighbours.decide(vectors)

    def labels(self) -> list[str]:
        """The IOB2 tags it can give: O, and B-/I- of every type in the support set."""
        types = sorted({lab for lab in self.neighbours.labels if lab != OUTSIDE})
        return [OUTSIDE, *(f"{p}-{t}" for t in types for p in ("B", "I"))]
