"""Config sections of the generation tasks (`seq2seq`, `causal`): how dev texts are generated and
scored, and the tokenizer a model built from scratch is trained with."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rawtune.config.base import Section

METRIC_SETS = ("rouge", "bleu", "chrf", "exact_match")
# the number each metric set reports under, the default selection metric when it comes first
METRIC_KEYS = {"rouge": "rougeL", "bleu": "bleu", "chrf": "chrf", "exact_match": "exact_match"}


class GenerationConfig(Section):
    """Decoding (passed to `model.generate`) and the metrics computed on what it generates."""

    strategy: Literal["greedy", "beam", "sample"] = Field(
        "greedy",
        description="greedy search, beam search (num_beams), or sampling (temperature, top_k, top_p).",
    )
    num_beams: int = Field(4, ge=2, description="Beam search: beams kept.")
    length_penalty: float = Field(
        1.0, description="Beam search: exponent of the length a beam's log-probability is divided by."
    )
    temperature: float = Field(1.0, gt=0.0, description="Sampling: divide the logits by this.")
    top_k: int = Field(50, ge=0, description="Sampling: keep the k most likely tokens (0: all).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Sampling: nucleus probability mass kept.")
    seed: int = Field(0, description="Sampling: torch seed set before each generation pass.")
    max_new_tokens: int = Field(64, ge=1, description="Tokens generated at most per input.")
    min_new_tokens: int = Field(
        0, ge=0, description="Tokens generated at least (end-of-text blocked before)."
    )
    no_repeat_ngram_size: int = Field(0, ge=0, description="Never repeat an n-gram of this size (0: off).")
    metrics: list[Literal["rouge", "bleu", "chrf", "exact_match"]] = Field(
        default_factory=lambda: ["rouge"],
        min_length=1,
        description="Metric sets on generated dev/test text (0-100): rouge (rouge1, rouge2, rougeL), "
        "bleu and chrf (sacrebleu, translation), exact_match. The first one's main number "
        "(rougeL, bleu, chrf, exact_match) selects the best model unless train.metric_for_best is set.",
    )
    eval_max_examples: int | None = Field(
        None,
        ge=1,
        description="Generate for the first N examples of an evaluated split only (loss and perplexity "
        "use all of them); generation is most of an evaluation's time.",
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> GenerationConfig:
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError("min_new_tokens must not exceed max_new_tokens")
        return self

    def generate_kwargs(self) -> dict[str, object]:
        """Keyword arguments of `model.generate` for this decoding setup."""
        kwargs: dict[str, object] = {
            "max_new_tokens": self.max_new_tokens,
            "min_new_tokens": self.min_new_tokens,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "num_beams": 1,
            "do_sample": False,
        }
        if self.strategy == "beam":
            kwargs.update(num_beams=self.num_beams, length_penalty=self.length_penalty, early_stopping=True)
        elif self.strategy == "sample":
            kwargs.update(do_sample=True, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        return kwargs


class ScratchTokenizerConfig(Section):
    """The tokenizer trained on the training sources and targets when model.init=scratch."""

    type: Literal["wordpiece", "bpe", "unigram"] = Field(
        "bpe", description="bpe: byte-level, lossless (what GPT-2 and BART use)."
    )
    vocab_size: int = Field(8000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = False
