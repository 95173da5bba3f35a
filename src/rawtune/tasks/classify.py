"""Sequence classification and sentence pairs as tasks: CSV/TSV/JSONL in, a label (or labels, or a
number) per text out."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from torch import nn

from rawtune.modeling.tokenizers import pad_id
from rawtune.tasks.base import TASKS, Inference
from rawtune.tasks.features import PadCollator, example_weights, forward_batches
from rawtune.tasks.ner import balanced_weights
from rawtune.tasks.sequence_classification import SequenceClassifierLoss, TextDecoder, encode_texts

_PRIMARY = {"single": ("macro_f1", True), "multi": ("micro_f1", True), "regression": ("pearson", True)}


class ClassificationTask:
    name = "classification"
    auto_class_name = "AutoModelForSequenceClassification"
    pairs = False
    weighted_examples = True  # a training example may carry a loss weight (data.extra_train)

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.kind = cfg.task.label_kind
        self.primary = _PRIMARY[self.kind]

    # --- data ---------------------------------------------------------------------------------
    def read(self, path: str, *, labeled: bool = True) -> Any:
        from rawtune.data.readers.labeled import read_text_table

        d = self.cfg.data
        return read_text_table(
            path,
            text_column=d.text_column,
            label_column=d.label_column,
            text_b_column=d.text_b_column if self.pairs else None,
            label_kind=self.kind,
            multi_label_sep=d.multi_label_sep,
            labeled=labeled,
        )

    def _labels_of(self, ex: Any) -> list[str]:
        return list(ex.label) if self.kind == "multi" else [ex.label]

    def label_space(self, train: Any) -> Any:
        from rawtune.data.labels import LabelSpace

        if self.kind == "regression":
            return LabelSpace(("score",))
        return LabelSpace.from_labels([lab for ex in train.examples for lab in self._labels_of(ex)])

    def check_labels(self, space: Any, data: Any, split: str) -> None:
        from rawtune.data.labels import check_subset

        if self.kind == "regression":
            return
        occurrences: dict[str, str] = {}
        for ex in data.examples:
            for lab in self._labels_of(ex):
                occurrences.setdefault(lab, f"{ex.file}:{ex.line}")
        check_subset(space, occurrences, what=split, file=data.file)

    def head_config(self, space: Any) -> dict[str, Any]:
        problem = {
            "single": "single_label_classification",
            "multi": "multi_label_classification",
            "regression": "regression",
        }[self.kind]
        return {
            "num_labels": len(space.labels),
            "id2label": space.id2label(),
            "label2id": space.label2id(),
            "problem_type": problem,
        }

    # --- encoding -----------------------------------------------------------------------------
    def _target(self, ex: Any, l2i: dict[str, int]) -> Any:
        if self.kind == "regression":
            return float(ex.label)
        if self.kind == "multi":
            hot = [0.0] * len(l2i)
            for lab in ex.label:
                hot[l2i[lab]] = 1.0
            return hot
        return l2i[ex.label]

    def encode(self, tokenizer: Any, examples: list[Any], space: Any | None) -> list[dict[str, Any]]:
        labeled = space is not None and bool(examples) and examples[0].label is not None
        targets = [self._target(ex, space.label2id()) for ex in examples] if labeled else None
        return encode_texts(
            tokenizer,
            [ex.text for ex in examples],
            [ex.text_b or "" for ex in examples] if self.pairs else None,
            targets,
            max_length=self.cfg.data.max_length,
            stride=self.cfg.data.stride,
        )

    def train_features(self, tokenizer: Any, data: Any, space: Any) -> list[dict[str, Any]]:
        features = self.encode(tokenizer, data.examples, space)
        example_weights(features, data.examples, "example")
        return features

    def collator(self, tokenizer: Any) -> PadCollator:
        return PadCollator(pad_id(tokenizer), self.kind)

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        weights = None
        if self.cfg.task.class_weights == "balanced" and self.kind == "single":
            weights = balanced_weights(Counter(ex.label for ex in train.examples), space.labels)
        return SequenceClassifierLoss(model, self.kind, weights)

    # --- decoding -----------------------------------------------------------------------------
    def _decode(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> TextDecoder:
        features = self.encode(tokenizer, examples, space)
        decoder = TextDecoder(features, len(examples), len(space.labels), self.kind)
        forward_batches(
            model,
            features,
            self.collator(tokenizer),
            run.batch_size,
            decoder,
            autocast=run.autocast,
            progress=run.progress,
        )
        return decoder

    def _decide(self, scores: np.ndarray, space: Any) -> list[Any]:
        if self.kind == "regression":
            return [float(s) for s in scores]
        if self.kind == "multi":
            t = self.cfg.task.threshold
            return [[space.labels[j] for j in np.flatnonzero(row >= t)] for row in scores]
        return [space.labels[int(j)] for j in scores.argmax(1)]

    def evaluate(self, model: nn.Module, tokenizer: Any, data: Any, space: Any, run: Inference) -> dict:
        from rawtune.evaluation import metrics as M

        decoder = self._decode(model, tokenizer, data.examples, space, run)
        pred = self._decide(decoder.scores(), space)
        gold = [ex.label for ex in data.examples]
        if self.kind == "regression":
            m = M.regression_metrics([float(g) for g in gold], pred)
        elif self.kind == "multi":
            m = M.multilabel_metrics([list(g) for g in gold], pred, list(space.labels))
        else:
            m = M.classification_metrics(gold, pred, list(space.labels))
        return {"loss": decoder.loss(), **m}

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> list[dict[str, Any]]:
        decoder = self._decode(model, tokenizer, examples, space, run)
        scores = decoder.scores()
        decided = self._decide(scores, space)
        out = []
        for i, ex in enumerate(examples):
            rec: dict[str, Any] = {"text": ex.text}
            if self.pairs:
                rec["text_b"] = ex.text_b
            if self.kind == "regression":
                rec["score"] = round(decided[i], 6)
            else:
                rec["labels" if self.kind == "multi" else "label"] = decided[i]
                rec["scores"] = {lab: round(float(p), 6) for lab, p in zip(space.labels, scores[i])}
            out.append(rec)
        return out


TASKS.register("classification")(ClassificationTask)


@TASKS.register("pairs")
class PairsTask(ClassificationTask):
    name = "pairs"
    pairs = True
