"""Tasks whose model scores inputs itself: the runs that hold no transformers task head — a SetFit
encoder with its logistic-regression head, a PET masked LM with its verbaliser, a zero-shot scorer,
a few-shot NER nearest-neighbour tagger. Each reads its files, parses its inputs, checks labels and
writes its records as the classification or NER task it is (the subclassed task's own code); only
the model's forward pass is the method's, behind one call:

- a classifier: `model.class_scores(tokenizer, texts, batch_size) -> [n, labels]` array, with
  `model.probabilities` saying whether the rows are probabilities (then a labeled file's loss is
  their cross-entropy) or raw scores (zero-shot similarities and logits: no loss);
- a tagger: `model.tag(tokenizer, sentences, batch_size) -> (IOB2 tags, word scores)` per sentence.

So `evaluate` scores exactly what `predict` and `serve` return, as for every other run."""

from __future__ import annotations

from typing import Any

import numpy as np

from rawtune.tasks.base import Inference
from rawtune.tasks.classify import ClassificationTask
from rawtune.tasks.ner import NerTask


class ScoreDecoder:
    """The scores of a scoring model, read as a head's decoder is (`scores`, `loss`)."""

    def __init__(self, scores: np.ndarray, loss: float | None):
        self._scores, self._loss = scores, loss

    def scores(self) -> np.ndarray:
        return self._scores

    def loss(self) -> float | None:
        return self._loss


class ScoredClassificationTask(ClassificationTask):
    """Single-label classification by a model with `class_scores` (see the module's docstring)."""

    def _decode(self, model: Any, tokenizer: Any, examples: list[Any], space: Any, run: Inference) -> Any:
        scores = np.asarray(model.class_scores(tokenizer, [ex.text for ex in examples], run.batch_size))
        if run.progress is not None:
            run.progress(len(examples))
        loss = None
        gold = [ex.label for ex in examples]
        if model.probabilities and examples and all(g is not None for g in gold):
            index = space.label2id()
            rows = np.arange(len(gold))
            picked = scores[rows, [index[g] for g in gold]]
            loss = float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())
        return ScoreDecoder(scores, loss)


class _Encoded:
    """What NER evaluation reads of an encoding: the words no sub-token covers (none here: a word
    the embedder cuts off takes the last kept sub-token's vector)."""

    uncovered = 0


class ScoredNerTask(NerTask):
    """NER by a model with `tag` (see the module's docstring)."""

    def _decode(self, model: Any, tokenizer: Any, examples: list[Any], space: Any, run: Inference) -> Any:
        tags, scores = model.tag(tokenizer, [ex.tokens for ex in examples], run.batch_size)
        if run.progress is not None:
            run.progress(len(examples))
        return (
            tags,
            [np.asarray(s, dtype=np.float64) for s in scores],
            _Encoded(),
            ScoreDecoder(np.empty(0), None),
        )
