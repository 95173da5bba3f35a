"""NER / token classification as a task: CoNLL or JSONL in, IOB2 tags per word out."""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from rawtune.modeling.tokenizers import pad_id
from rawtune.tasks.base import TASKS, Inference
from rawtune.tasks.features import PadCollator, forward_batches
from rawtune.tasks.token_classification import (
    IGNORE,
    EncodedTokens,
    TokenClassifierLoss,
    WordDecoder,
    encode_tokens,
)

# A training word whose tag says nothing: no loss on it. `rawtune continual` sets it on the O words of
# replayed examples annotated before an entity type was added (their O does not mean "not that type").
UNSCORED = "<unscored>"


def balanced_weights(counts: Counter, labels: tuple[str, ...]) -> torch.Tensor:
    """sklearn's 'balanced' weights, n / (k * count); unseen classes get weight 1."""
    total, k = sum(counts.values()), len(labels)
    return torch.tensor([total / (k * counts[lab]) if counts[lab] else 1.0 for lab in labels])


@TASKS.register("ner")
class NerTask:
    name = "ner"
    auto_class_name = "AutoModelForTokenClassification"
    primary = ("f1", True)

    def __init__(self, cfg: Any):
        self.cfg = cfg

    # --- data ---------------------------------------------------------------------------------
    def read(self, path: str, *, labeled: bool = True) -> Any:
        from rawtune.data.readers.labeled import read_token_file

        d = self.cfg.data
        return read_token_file(
            path,
            token_column=d.token_column,
            tag_column=d.tag_column,
            scheme=d.scheme,
            repair=d.repair_tags,
            labeled=labeled,
        )

    def label_space(self, train: Any) -> Any:
        from rawtune.data.labels import LabelSpace

        return LabelSpace.from_tags([ex.tags for ex in train.examples])

    def check_labels(self, space: Any, data: Any, split: str) -> None:
        from rawtune.data.labels import check_subset

        occurrences: dict[str, str] = {}
        for ex in data.examples:
            for tag in ex.tags:
                occurrences.setdefault(tag, f"{ex.file}:{ex.line}")
        check_subset(space, occurrences, what=split, file=data.file)

    def head_config(self, space: Any) -> dict[str, Any]:
        return {"num_labels": len(space.labels), "id2label": space.id2label(), "label2id": space.label2id()}

    # --- encoding -----------------------------------------------------------------------------
    def encode(self, tokenizer: Any, examples: list[Any], space: Any | None) -> EncodedTokens:
        d = self.cfg.data
        tag_ids = None
        if space is not None and examples and examples[0].tags is not None:
            l2i = space.label2id()
            tag_ids = [[l2i[t] if t != UNSCORED else IGNORE for t in ex.tags] for ex in examples]
        docs = [ex.doc for ex in examples] if d.doc_context else None
        return encode_tokens(
            tokenizer,
            [ex.tokens for ex in examples],
            tag_ids,
            max_length=d.max_length,
            stride=d.stride,
            subword_labels=self.cfg.task.subword_labels,
            docs=docs,
            b_to_i=_b_to_i(space) if space is not None else None,
        )

    def train_features(self, tokenizer: Any, data: Any, space: Any) -> list[dict[str, Any]]:
        return self.encode(tokenizer, data.examples, space).features

    def collator(self, tokenizer: Any) -> PadCollator:
        return PadCollator(pad_id(tokenizer), "tokens")

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        weights = None
        if self.cfg.task.class_weights == "balanced":
            weights = balanced_weights(Counter(t for ex in train.examples for t in ex.tags), space.labels)
        return TokenClassifierLoss(model, weights)

    # --- decoding -----------------------------------------------------------------------------
    def _decode(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> tuple[WordDecoder, EncodedTokens]:
        encoded = self.encode(tokenizer, examples, space)
        outside = space.label2id().get("O", 0)
        decoder = WordDecoder(encoded, outside)
        forward_batches(
            model,
            encoded.features,
            self.collator(tokenizer),
            run.batch_size,
            decoder,
            autocast=run.autocast,
            progress=run.progress,
        )
        return decoder, encoded

    def evaluate(
        self,
        model: nn.Module,
        tokenizer: Any,
        data: Any,
        space: Any,
        run: Inference,
        *,
        only_types: set[str] | None = None,
    ) -> dict:
        """Entity metrics of the model on `data`. `only_types`: predicted entities of other types
        are not scored (set to O) — for data annotated before those types existed, where such a
        prediction can be neither right nor wrong."""
        from rawtune.evaluation.metrics import ner_metrics

        decoder, encoded = self._decode(model, tokenizer, data.examples, space, run)
        labels = space.labels
        pred = [[labels[int(t)] for t in tags] for tags in decoder.tags]
        if only_types is not None:
            pred = [[t if t == "O" or t[2:] in only_types else "O" for t in tags] for tags in pred]
        gold = [list(ex.tags) for ex in data.examples]
        metrics: dict[str, Any] = {"loss": decoder.loss(), **ner_metrics(gold, pred)}
        metrics["uncovered_words"] = encoded.uncovered
        return metrics

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> list[dict[str, Any]]:
        from seqeval.metrics.sequence_labeling import get_entities

        from rawtune.data.labels import repair_iob2

        decoder, _ = self._decode(model, tokenizer, examples, space, run)
        out = []
        for ex, tags, probs in zip(examples, decoder.tags, decoder.prob):
            # the tags as valid IOB2 (an I-X the model put after O becomes B-X): the same entities
            # seqeval reads from the raw tags, and a file of them reads back under the IOB2 check
            names = repair_iob2([space.labels[int(t)] for t in tags])[0]
            entities = []
            for etype, start, end in get_entities(names):
                ent: dict[str, Any] = {
                    "type": etype,
                    "text": " ".join(ex.tokens[start : end + 1]),
                    "words": [start, end + 1],
                    "score": round(float(probs[start : end + 1].mean()), 4),
                }
                if ex.spans is not None:
                    ent["start"], ent["end"] = ex.spans[start][0], ex.spans[end][1]
                entities.append(ent)
            out.append({"tokens": list(ex.tokens), "tags": names, "entities": entities})
        return out


def _b_to_i(space: Any) -> dict[int, int]:
    l2i = space.label2id()
    return {
        i: l2i[f"I-{lab[2:]}"] for lab, i in l2i.items() if lab.startswith("B-") and f"I-{lab[2:]}" in l2i
    }
