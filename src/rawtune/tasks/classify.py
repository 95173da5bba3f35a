"""Sequence classification and sentence pairs as tasks: CSV/TSV/JSONL in, a label (or labels, or a
number) per text out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from rawtune.config.options import TaskOptions
from rawtune.evaluation.metrics import ReportKind
from rawtune.tasks.base import Inference, Task, register_task

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from rawtune.tasks.features import PadCollator
    from rawtune.tasks.sequence_classification import TextDecoder

# each label kind's report: the report kind it writes and the metric it leads with
REPORTS = {
    "single": ("classification", ReportKind("macro_f1")),
    "multi": ("multilabel", ReportKind("micro_f1")),
    "regression": ("regression", ReportKind("pearson")),
}


class ClassificationOptions(TaskOptions):
    name: Literal["classification"] = "classification"
    label_kind: Literal["single", "multi", "regression"] = Field(
        "single", description="classification/pairs: one label, several labels, or a number."
    )
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="Weight the loss by inverse class frequency in the training set."
    )
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Multi-label decision threshold.")


class PairsOptions(ClassificationOptions):
    name: Literal["pairs"] = "pairs"  # type: ignore[assignment]


@register_task("classification")
class ClassificationTask(Task):
    name = "classification"
    options = ClassificationOptions
    auto_class_name = "AutoModelForSequenceClassification"
    report_kinds: ClassVar[dict[str, ReportKind]] = dict(REPORTS.values())
    purpose = "Classifies texts into {labels}."
    sample = "the service was excellent"
    augmentable = True
    continual = True
    pairs = False  # two texts per example (text, text_b)
    weighted_examples = True  # a training example may carry a loss weight (data.extra_train)
    input_formats = ("csv", "tsv", "jsonl")
    output_formats = ("jsonl", "csv")

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.kind = cfg.task.label_kind

    @classmethod
    def report_kind_of(cls, config: Mapping[str, Any]) -> str:
        task = config.get("task")
        kind = task.get("label_kind") if isinstance(task, Mapping) else None
        return REPORTS.get(str(kind or "single"), REPORTS["single"])[0]

    def recorded(self) -> Mapping[str, Any]:
        return {"task": {"label_kind": self.kind}}

    @classmethod
    def plain_task(cls, model_config: Any) -> dict[str, Any] | None:
        """A *ForSequenceClassification model: its problem type says the label kind."""
        archs = getattr(model_config, "architectures", None) or []
        if cls.pairs or not any(a.endswith("ForSequenceClassification") for a in archs):
            return None
        problem = getattr(model_config, "problem_type", None)
        kind = {"multi_label_classification": "multi", "regression": "regression"}.get(
            problem or "", "single"
        )
        return {"name": cls.name, "label_kind": kind}

    @property
    def distill_kind(self) -> str | None:
        return str(self.kind)  # one row of logits per text

    def example(self, item: Any, where: str) -> Any:
        """A prediction input: a string, a {'text', 'text_b'} object or a pair."""
        from rawtune.data.readers.labeled import TextExample
        from rawtune.errors import DataError

        if isinstance(item, str):
            return TextExample(text=item, label=None, file=where, line=0)
        if isinstance(item, dict) and "text" in item:
            return TextExample(text=item["text"], label=None, file=where, line=0, text_b=item.get("text_b"))
        if isinstance(item, (list, tuple)) and len(item) == 2:
            return TextExample(text=item[0], label=None, file=where, line=0, text_b=item[1])
        raise DataError(f"input must be a string, a {{'text', 'text_b'}} object or a pair, not {item!r:.60}")

    def line_example(self, text: str, file: str, line: int) -> Any:
        from rawtune.data.readers.labeled import TextExample

        return TextExample(text=text, label=None, file=file, line=line)

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

    def read_inputs(self, path: str, fmt: str) -> Any:
        from rawtune.data.readers.tables import iter_text_table

        d = self.cfg.data
        return iter_text_table(
            path,
            text_column=d.text_column,
            text_b_column=d.text_b_column if self.pairs else None,
            label_kind=self.kind,
            labeled=False,
            fmt=fmt,
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
        from rawtune.tasks.sequence_classification import encode_texts

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
        from rawtune.tasks.features import example_weights

        features = self.encode(tokenizer, data.examples, space)
        example_weights(features, data.examples, "example")
        return features

    def collator(self, tokenizer: Any) -> PadCollator:
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.features import PadCollator

        return PadCollator(pad_id(tokenizer), self.kind)

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        from rawtune.tasks.features import balanced_weights
        from rawtune.tasks.sequence_classification import SequenceClassifierLoss

        weights = None
        if self.cfg.task.class_weights == "balanced" and self.kind == "single":
            weights = balanced_weights(Counter(ex.label for ex in train.examples), space.labels)
        return SequenceClassifierLoss(model, self.kind, weights)

    # --- decoding -----------------------------------------------------------------------------
    def _decode(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> TextDecoder:
        from rawtune.tasks.features import forward_batches
        from rawtune.tasks.sequence_classification import TextDecoder

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
        import numpy as np

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


@register_task("pairs")
class PairsTask(ClassificationTask):
    name = "pairs"
    options = PairsOptions
    continual = False  # the replay memory keeps one text per example
    # its reports are classification's (by label kind); "pairs" names the single-label one too
    report_kinds: ClassVar[dict[str, ReportKind]] = {
        **ClassificationTask.report_kinds,
        "pairs": ReportKind("macro_f1"),
    }
    inputs = ("texts", "pairs")
    purpose = "Classifies pairs of texts into {labels}."
    sample = None
    augmentable = False  # the augmenters rewrite one text
    pairs = True

    def line_example(self, text: str, file: str, line: int) -> Any:
        """Two texts separated by a tab."""
        from rawtune.data.readers.labeled import TextExample
        from rawtune.errors import DataError

        if "\t" not in text:
            raise DataError("a sentence pair needs its two texts separated by a tab", file=file, line=line)
        a, b = text.split("\t", 1)
        return TextExample(text=a, label=None, file=file, line=line, text_b=b)
