"""Relation extraction as a task: a sentence with two marked entity mentions (head, tail) in, the
relation between them (or the no-relation label) out. JSONL data (`data/readers/relations.py`),
entity markers added to the tokenizer (`relation_markers.py`), a head over the start markers
(`relation_features.py`), micro/macro F1 without the no-relation label
(`evaluation/relation_metrics.py`). The pipeline mode (a NER run finds the mentions, every
candidate pair is classified) is `serve/relation_pipeline.py`."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from rawtune.config.options import TaskOptions
from rawtune.errors import DataError
from rawtune.evaluation.metrics import ReportKind
from rawtune.tasks.base import Inference, Task, register_task
from rawtune.tasks.relation_markers import MarkerSet, add_markers, check_type_names, marker_ids

if TYPE_CHECKING:
    from torch import nn

    from rawtune.tasks.relation_features import PairDecoder, RelationCollator

log = logging.getLogger("rawtune")
HEAD, TAIL = "E1", "E2"  # id2label prefixes of the two halves of the head's outputs


class RelationOptions(TaskOptions):
    name: Literal["relations"] = "relations"
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="Weight the loss by inverse class frequency in the training set."
    )
    no_relation_label: str = Field(
        "no_relation",
        min_length=1,
        description="Relations: the label of a pair with no relation; excluded from micro/macro F1, and "
        "what the pipeline mode predicts for unrelated pairs.",
    )
    entity_markers: Literal["typed", "untyped"] = Field(
        "typed",
        description="Relations: typed markers ([E1:PER] ... [/E1:PER]) for the entity types seen in training "
        "(a missing or unseen type gets [E1] ... [/E1]), or untyped markers for every mention.",
    )


@register_task("relations")
class RelationTask(Task):
    name = "relations"
    options = RelationOptions
    auto_class_name = "AutoModelForTokenClassification"  # 2 x L outputs, see relation_features
    report_kinds: ClassVar[dict[str, ReportKind]] = {"relations": ReportKind("micro_f1")}
    needs_model_dir = True  # the marker embeddings live in RUN/model/, never in the base + adapter
    inputs = ("relations",)

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.no_relation = cfg.task.no_relation_label
        self.typed = cfg.task.entity_markers == "typed"

    # --- data ---------------------------------------------------------------------------------
    def read(self, path: str, *, labeled: bool = True) -> Any:
        from rawtune.data.readers.relations import read_relations

        return read_relations(path, label_column=self.cfg.data.label_column, labeled=labeled)

    def label_space(self, train: Any) -> Any:
        """The no-relation label first (added when the training data has none), then the relations."""
        from rawtune.data.labels import LabelSpace

        counts = Counter(ex.label for ex in train.examples)
        if self.no_relation not in counts:
            log.warning(
                "%s has no %r pairs: the model never learns to say 'no relation' (the pipeline mode "
                "needs it; --task.no_relation_label names it)",
                train.file,
                self.no_relation,
            )
        rest = sorted(lab for lab in counts if lab != self.no_relation)
        if not rest:
            raise DataError(
                f"every pair is {self.no_relation!r}: there is no relation to learn", file=train.file
            )
        return LabelSpace((self.no_relation, *rest))

    def head_space(self, id2label: Mapping[int, str]) -> Any:
        """The relation labels of a saved head (whose id2label names both halves, E1:x and E2:x)."""
        from rawtune.data.labels import LabelSpace

        names = [id2label[i] for i in sorted(id2label)]
        half = names[: len(names) // 2]
        if len(names) % 2 or not all(n.startswith(f"{HEAD}:") for n in half):
            raise DataError(f"not a relation-extraction head: id2label is {names[:6]}")
        return LabelSpace(tuple(n.split(":", 1)[1] for n in half))

    def check_labels(self, space: Any, data: Any, split: str) -> None:
        from rawtune.data.labels import check_subset

        occurrences: dict[str, str] = {}
        for ex in data.examples:
            occurrences.setdefault(ex.label, f"{ex.file}:{ex.line}")
        check_subset(space, occurrences, what=split, file=data.file)

    def head_config(self, space: Any) -> dict[str, Any]:
        names = [f"{role}:{lab}" for role in (HEAD, TAIL) for lab in space.labels]
        return {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
        }

    def marker_ids(self, tokenizer: Any) -> list[int]:
        """Embedding rows that train under any tuning method that allows it (the markers start from
        the mean of the old rows and mean nothing yet)."""
        return marker_ids(tokenizer)

    def prepare_tokenizer(self, tokenizer: Any, train: Any) -> Any:
        """Add the entity markers for the training data's entity types (typed markers). Their
        embeddings exist only in a saved whole model, so a method that keeps only an adapter on the
        base model (prompt, prefix, adapter) is refused."""
        from rawtune.errors import ConfigError, ConfigIssue
        from rawtune.tuning.base import METHODS

        method = METHODS.get(self.cfg.tuning.method)
        if method.adapter and not method.mergeable:
            raise ConfigError(
                [
                    ConfigIssue(
                        "tuning.method",
                        f"{self.cfg.tuning.method} keeps an adapter for the base model, which lacks the "
                        "entity-marker embeddings relations adds; use full, freeze, lora, ia3 or bitfit",
                    )
                ]
            )
        types = (
            {e.type for ex in train.examples for e in (ex.head, ex.tail) if e.type} if self.typed else set()
        )
        check_type_names(types, train.file)
        n = add_markers(tokenizer, types)
        log.info(
            "relations: added %d entity markers to the tokenizer (types: %s)", n, sorted(types) or "none"
        )
        return tokenizer

    def example(self, item: Any, where: str) -> Any:
        """A prediction input: {"text" | "tokens", "head", "tail"} as in the data files."""
        from rawtune.data.readers.relations import parse_example

        if isinstance(item, str):
            raise DataError(
                "a relations run takes entity pairs ({'text' or 'tokens', 'head', 'tail'}), not raw text; "
                "for raw text let a NER run find the mentions: rawtune predict RUN --ner NER_RUN",
                file=where,
            )
        if not isinstance(item, dict):
            raise DataError(
                f"relations input must be a {{'text' or 'tokens', 'head', 'tail'}} object, not {item!r:.60}"
            )
        return parse_example(item, where, 0, labeled=False)

    # --- encoding -----------------------------------------------------------------------------
    def encode(
        self, tokenizer: Any, examples: list[Any], space: Any | None, *, skip_long: bool = False
    ) -> tuple[list[dict[str, Any]], MarkerSet]:
        from rawtune.tasks.relation_features import encode_pairs

        markers = MarkerSet(tokenizer, self.typed)
        labeled = space is not None and bool(examples) and examples[0].label is not None
        features, cut = encode_pairs(
            tokenizer,
            examples,
            markers,
            max_length=self.cfg.data.max_length,
            label2id=space.label2id() if labeled else None,
            skip_long=skip_long,
        )
        if cut:
            log.info("relations: %d of %d inputs cut to a window around their markers", cut, len(examples))
        if markers.fallbacks:
            log.warning(
                "relations: %d mentions had no type or one unseen in training; marked with [E1]/[E2]",
                markers.fallbacks,
            )
        return features, markers

    def train_features(self, tokenizer: Any, data: Any, space: Any) -> list[dict[str, Any]]:
        return self.encode(tokenizer, data.examples, space)[0]

    def collator(self, tokenizer: Any) -> RelationCollator:
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.relation_features import RelationCollator

        return RelationCollator(pad_id(tokenizer))

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        from rawtune.tasks.features import balanced_weights
        from rawtune.tasks.relation_features import RelationLoss

        weights = None
        if self.cfg.task.class_weights == "balanced":
            weights = balanced_weights(Counter(ex.label for ex in train.examples), space.labels)
        return RelationLoss(model, weights)

    # --- decoding -----------------------------------------------------------------------------
    def scores(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference, **kw: Any
    ) -> PairDecoder:
        """Relation probabilities of every example (rows of NaN: skipped with `skip_long`)."""
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.features import forward_batches
        from rawtune.tasks.relation_features import PairDecoder, RelationCollator

        features, _ = self.encode(tokenizer, examples, space, **kw)
        decoder = PairDecoder(features, len(examples), len(space.labels))
        forward_batches(
            model,
            features,
            RelationCollator(pad_id(tokenizer), positions=False),
            run.batch_size,
            decoder,
            autocast=run.autocast,
            progress=run.progress,
        )
        return decoder

    def evaluate(self, model: nn.Module, tokenizer: Any, data: Any, space: Any, run: Inference) -> dict:
        from rawtune.evaluation.relation_metrics import relation_metrics

        decoder = self.scores(model, tokenizer, data.examples, space, run)
        pred = [space.labels[int(j)] for j in decoder.probs.argmax(1)]
        gold = [ex.label for ex in data.examples]
        return {"loss": decoder.loss(), **relation_metrics(gold, pred, space.labels, self.no_relation)}

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> list[dict[str, Any]]:
        probs = self.scores(model, tokenizer, examples, space, run).probs
        return [record(ex, row, space.labels) for ex, row in zip(examples, probs)]


def mention(ex: Any, ent: Any) -> dict[str, Any]:
    """A mention as predictions show it: its text, type, and offsets in the input's own unit
    (token indices for `tokens` input, character offsets for `text`)."""
    start, end = ex.token_index(ent) if ex.token_spans is not None else (ent.start, ent.end)
    return {"text": ex.text[ent.start : ent.end], "type": ent.type, "start": start, "end": end}


def record(ex: Any, probs: Any, labels: tuple[str, ...]) -> dict[str, Any]:
    best = int(probs.argmax())
    rec: dict[str, Any] = {"tokens": ex.text.split(" ")} if ex.token_spans is not None else {"text": ex.text}
    rec.update(
        head=mention(ex, ex.head),
        tail=mention(ex, ex.tail),
        label=labels[best],
        score=round(float(probs[best]), 6),
        scores={lab: round(float(p), 6) for lab, p in zip(labels, probs)},
    )
    return rec
