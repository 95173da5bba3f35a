"""Contextual word replacement with a masked LM. Each chosen word (all of its sub-tokens) becomes one
mask token; the model's distribution at that mask, restricted to whole alphabetic words other than
the original, is cut to its top k, sharpened or flattened by the temperature, and sampled with the
copy's own generator. All masks of a sentence are predicted in one forward pass, sentences in
batches, and the vocabulary projection is computed at the mask positions only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rawtune.augmentation.vocab import ReplacementVocab, match_case


@dataclass
class Request:
    """Replace `words[i]` for each i in `positions` (ascending), sampling with `generator`."""

    words: list[str]
    positions: list[int]
    generator: Any


class Replacer:
    def __init__(self, model: Any, tokenizer: Any, *, top_k: int, temperature: float, max_length: int):
        from rawtune.tasks.lm import MLM_HEADS

        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.top_k, self.temperature, self.max_length = top_k, temperature, max_length
        size = model.get_output_embeddings().weight.shape[0]
        self.vocab = ReplacementVocab(tokenizer, size)
        head = MLM_HEADS.get(getattr(model.config, "model_type", ""))
        self._head = getattr(model, head) if head and hasattr(model, head) else None

    def fill(self, requests: list[Request], batch_size: int) -> list[list[str | None]]:
        """For each request, the new word at each position (None where truncation cut the word off)."""
        out: list[list[str | None]] = []
        for start in range(0, len(requests), batch_size):
            out += self._batch(requests[start : start + batch_size])
        return out

    def _logits(self, batch: Any) -> Any:
        import torch

        masks = batch["input_ids"] == self.tokenizer.mask_token_id
        with torch.inference_mode():
            if self._head is not None:
                hidden = self.model.base_model(**batch).last_hidden_state
                return self._head(hidden[masks]).float(), masks
            return self.model(**batch).logits[masks].float(), masks

    def _batch(self, requests: list[Request]) -> list[list[str | None]]:
        import torch

        mask = self.tokenizer.mask_token
        texts = []
        for r in requests:
            chosen = set(r.positions)
            texts.append(" ".join(mask if i in chosen else w for i, w in enumerate(r.words)))
        batch = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )
        logits, masks = self._logits(dict(batch))
        counts = masks.sum(1).tolist()
        invalid = ~self.vocab.valid
        invalid_long = invalid | self.vocab.single  # for words of two letters or more
        out, row = [], 0
        for r, found in zip(requests, counts):
            words: list[str | None] = [None] * len(r.positions)
            for j in range(min(found, len(r.positions))):  # masks past the truncation stay words
                pos = r.positions[j]
                word = r.words[pos]
                scores = logits[row + j].masked_fill(
                    invalid if len(word) == 1 else invalid_long, float("-inf")
                )
                scores[self.vocab.same_word(word)] = float("-inf")
                top = torch.topk(scores, min(self.top_k, self.vocab.size))
                if not torch.isfinite(top.values[0]):
                    continue  # no word but the original is valid (a tiny vocabulary)
                probs = torch.softmax(top.values / self.temperature, -1)
                pick = int(torch.multinomial(probs, 1, generator=r.generator))
                words[j] = match_case(word, self.vocab.texts[int(top.indices[pick])])
            out.append(words)
            row += found
        return out


_HEADLESS_HINT = (
    "word replacement samples from that head: train it first with continued pretraining "
    "(rawtune pretrain --model MODEL --corpus TEXT --output runs/dapt) and pass the run, or use {alt}"
)


def load_replacer(name: str, model_cfg: Any, options: Any, alt: str) -> Any:
    """The masked LM `name` as a word replacer with `options` (top_k, temperature, max_length);
    a model without a trained MLM head is refused with how to get one (`alt`: the other way)."""
    from rawtune.modeling.mlm import load_masked_lm

    model, tokenizer = load_masked_lm(name, model_cfg, _HEADLESS_HINT.format(alt=alt))
    try:
        return Replacer(
            model,
            tokenizer,
            top_k=options.top_k,
            temperature=options.temperature,
            max_length=options.max_length,
        )
    except ValueError as e:
        from rawtune.errors import ModelError

        raise ModelError(f"model {name}: {e}") from None
