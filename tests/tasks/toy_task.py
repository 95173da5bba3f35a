"""A task kept outside rawtune, in one module: "tone", which tells whether a line of text is
positive or negative. Its files are lines `LABEL|TEXT` (a format no built-in task reads); its
options (`task.lowercase`) are its own; its report leads with accuracy. The one line that makes
rawtune know it is `@register_task("tone")`: importing this module registers the task, its options
and its report kind, and `rawtune.finetune`, `rawtune.evaluate` and `Predictor` then take
`task.name: tone` like any built-in task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from rawtune.config.options import TaskOptions
from rawtune.data.readers.examples import TextExample
from rawtune.errors import DataError
from rawtune.evaluation.metrics import ReportKind
from rawtune.modeling.tokenizers import pad_id
from rawtune.tasks.base import Inference, Task, register_task
from rawtune.tasks.features import PadCollator, forward_batches


class ToneOptions(TaskOptions):
    name: Literal["tone"] = "tone"
    lowercase: bool = True  # read the texts lowercased


@dataclass(frozen=True)
class ToneData:
    examples: list[TextExample]
    file: str


class ToneLoss(nn.Module):
    """Cross-entropy over the texts of a batch, in the loop's terms (loss, loss_sum, count, correct)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels) -> dict[str, Any]:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        loss = F.cross_entropy(logits, labels)
        n = int(labels.shape[0])
        correct = (logits.argmax(-1) == labels).sum()
        return {"loss": loss, "loss_sum": float(loss.detach()) * n, "count": n, "correct": correct}


class Votes:
    """Each text's predicted label id (a batch at a time)."""

    def __init__(self, n: int):
        self.ids = [0] * n

    def __call__(self, idx: list[int], batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        for i, j in zip(idx, logits.argmax(-1).tolist()):
            self.ids[i] = j


@register_task("tone")
class ToneTask(Task):
    name = "tone"
    options = ToneOptions
    auto_class_name = "AutoModelForSequenceClassification"
    report_kinds: ClassVar[dict[str, ReportKind]] = {"tone": ReportKind("accuracy")}
    purpose = "Tells the tone of a text: {labels}."
    sample = "the service was excellent"

    def _text(self, text: str) -> str:
        return text.lower() if self.cfg.task.lowercase else text

    def read(self, path: str, *, labeled: bool = True) -> ToneData:
        examples = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                label, sep, text = line.rstrip("\n").partition("|")
                if not sep:
                    raise DataError("expected LABEL|TEXT", file=path, line=n)
                examples.append(TextExample(self._text(text), label if labeled else None, path, n))
        return ToneData(examples, path)

    def example(self, item: Any, where: str) -> TextExample:
        if not isinstance(item, str):
            raise DataError(f"tone input must be a string, not {type(item).__name__}", file=where)
        return TextExample(self._text(item), None, where, 0)

    def label_space(self, train: ToneData) -> Any:
        from rawtune.data.labels import LabelSpace

        return LabelSpace.from_labels([ex.label for ex in train.examples])

    def check_labels(self, space: Any, data: ToneData, split: str) -> None:
        unknown = {ex.label for ex in data.examples} - set(space.labels)
        if unknown:
            raise DataError(f"{split} has labels the training data lacks: {sorted(unknown)}", file=data.file)

    def head_config(self, space: Any) -> dict[str, Any]:
        return {"num_labels": len(space.labels), "id2label": space.id2label(), "label2id": space.label2id()}

    def encode(self, tokenizer: Any, examples: list[TextExample], space: Any) -> list[dict[str, Any]]:
        ids = tokenizer([ex.text for ex in examples], truncation=True, max_length=self.cfg.data.max_length)
        l2i = space.label2id()
        return [
            {"input_ids": row, **({"labels": l2i[ex.label]} if ex.label is not None else {})}
            for row, ex in zip(ids["input_ids"], examples)
        ]

    def train_features(self, tokenizer: Any, data: ToneData, space: Any) -> list[dict[str, Any]]:
        return self.encode(tokenizer, data.examples, space)

    def collator(self, tokenizer: Any) -> PadCollator:
        return PadCollator(pad_id(tokenizer), "single")

    def train_module(self, model: nn.Module, space: Any, train: ToneData) -> nn.Module:
        return ToneLoss(model)

    def _decide(
        self, model: nn.Module, tokenizer: Any, examples: list[TextExample], space: Any, run: Inference
    ):
        features = self.encode(tokenizer, examples, space)
        votes = Votes(len(examples))
        forward_batches(
            model, features, self.collator(tokenizer), run.batch_size, votes, autocast=run.autocast
        )
        return [space.labels[j] for j in votes.ids]

    def evaluate(self, model: nn.Module, tokenizer: Any, data: ToneData, space: Any, run: Inference) -> dict:
        pred = self._decide(model, tokenizer, data.examples, space, run)
        right = sum(p == ex.label for p, ex in zip(pred, data.examples))
        return {"accuracy": right / len(pred), "examples": len(pred)}

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[TextExample], space: Any, run: Inference
    ):
        pred = self._decide(model, tokenizer, examples, space, run)
        return [{"text": ex.text, "label": p} for ex, p in zip(examples, pred)]
