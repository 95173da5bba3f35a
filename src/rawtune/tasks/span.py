"""T5-style span corruption, the `span` pretraining objective for encoder-decoders: about
`noise_density` of a block's tokens, in spans of `mean_span_length` on average, are each replaced
in the input by one sentinel (<extra_id_0>, <extra_id_1>, ...); the target is every sentinel
followed by the tokens it hides, then end of text. Spans are a pure function of (seed, epoch,
sample id), as MLM masks are, so a resumed run corrupts exactly what an uninterrupted one does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rawtune.errors import ModelError
from rawtune.tasks.lm import OBJECTIVES
from rawtune.tasks.seq2seq_features import Seq2SeqCollator, Seq2SeqLoss

N_SENTINELS = 100  # as T5's vocabulary


def sentinel_ids(tokenizer: Any, add: bool = True) -> list[int]:
    """Ids of <extra_id_0..99>; added to the tokenizer (as special tokens) when it lacks them."""
    names = [f"<extra_id_{i}>" for i in range(N_SENTINELS)]
    vocab = tokenizer.get_vocab()
    missing = [n for n in names if n not in vocab]
    if missing:
        if not add:
            raise ModelError(f"the tokenizer has no span-corruption sentinels ({missing[0]}, ...)")
        tokenizer.add_special_tokens(
            {"additional_special_tokens": missing}, replace_extra_special_tokens=False
        )
    return tokenizer.convert_tokens_to_ids(names)


def _segments(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """Lengths of `parts` non-empty segments that add up to `total`, uniformly at random."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False)) if parts > 1 else []
    return np.diff(np.concatenate([[0], cuts, [total]])).astype(np.int64)


def noise_mask(n: int, density: float, mean_span: float, rng: np.random.Generator) -> np.ndarray:
    """Which of n tokens are hidden: round(n * density) of them (at least 1, and at least one kept),
    in round(noise / mean_span) spans, alternating with kept spans, kept first (T5's
    random_spans_noise_mask)."""
    noise = min(max(1, round(n * density)), n - 1)
    spans = max(1, min(round(noise / mean_span), noise, n - noise))
    hidden, kept = _segments(noise, spans, rng), _segments(n - noise, spans, rng)
    mask = np.zeros(n, dtype=bool)
    at = 0
    for k, h in zip(kept, hidden):
        at += k
        mask[at : at + h] = True
        at += h
    return mask


def corrupt(
    tokens: np.ndarray, mask: np.ndarray, sentinels: list[int], eos: int
) -> tuple[list[int], list[int]]:
    """(input ids, target ids) of `tokens` with the `mask`ed spans moved to the target."""
    inputs: list[int] = []
    target: list[int] = []
    span = -1
    for i, tok in enumerate(tokens.tolist()):
        if not mask[i]:
            inputs.append(tok)
            continue
        if i == 0 or not mask[i - 1]:
            span += 1
            if span >= len(sentinels):
                raise ModelError(f"more than {len(sentinels)} corrupted spans in a block: lower data.seq_len")
            inputs.append(sentinels[span])
            target.append(sentinels[span])
        target.append(tok)
    return [*inputs, eos], [*target, eos]


class SpanCollator:
    """Corrupts each block's content tokens (special tokens dropped), pads inputs and targets."""

    def __init__(self, tokenizer: Any, cfg: Any, seed: int, salt: int):
        self.cfg, self.seed, self.salt = cfg, seed, salt
        self.sentinels = sentinel_ids(tokenizer, add=False)
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        if eos is None:
            raise ModelError("objective span needs a tokenizer with an end-of-text (eos or sep) token")
        self.eos = int(eos)
        self.special = set(tokenizer.all_special_ids)
        pad = tokenizer.pad_token_id
        self.pad_collate = Seq2SeqCollator(pad if pad is not None else self.eos)

    def __call__(
        self, samples: list[dict[str, Any]], sample_ids: list[int], epoch: int
    ) -> dict[str, torch.Tensor]:
        rows = []
        for s, sid in zip(samples, sample_ids):
            tokens = np.asarray(s["input_ids"][: int(s["length"])], dtype=np.int64)
            tokens = tokens[[t not in self.special for t in tokens.tolist()]]
            if len(tokens) < 2:
                rows.append({"input_ids": [*tokens.tolist(), self.eos], "labels": [self.eos]})
                continue
            rng = np.random.default_rng([self.seed, self.salt, epoch, sid])
            mask = noise_mask(len(tokens), self.cfg.noise_density, self.cfg.mean_span_length, rng)
            inputs, target = corrupt(tokens, mask, self.sentinels, self.eos)
            rows.append({"input_ids": inputs, "labels": target})
        return self.pad_collate(rows)


@OBJECTIVES.register("span")
class SpanLM(Seq2SeqLoss):
    """The `span` objective's training module: the decoder's loss on every target token."""

    collator = SpanCollator

    def __init__(self, model: Any, sparse_head: bool = True):
        super().__init__(model)
