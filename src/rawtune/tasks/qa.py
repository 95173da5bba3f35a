"""Extractive question answering as a task: SQuAD JSON / JSONL in, an answer span of the context
(character offsets) out. The model is an `AutoModelForQuestionAnswering` (start and end logits per
token), trained by the same loop as every task through `QuestionAnsweringLoss`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from rawtune.config.options import TaskOptions
from rawtune.errors import DataError
from rawtune.evaluation.metrics import ReportKind
from rawtune.tasks.base import Inference, Task, register_task

if TYPE_CHECKING:
    from torch import nn

    from rawtune.tasks.qa_decode import Decision
    from rawtune.tasks.qa_features import QACollator

log = logging.getLogger("rawtune")
LABELS = ("start", "end")  # the head's two outputs, recorded as its id2label
SQUAD_NOTE = (
    "Exact match and F1 in percent, as the official SQuAD scripts score them: answers lowercased, "
    "punctuation and a/an/the removed, whitespace collapsed, the best over the gold answers; an "
    "unanswerable question's gold answer is the empty string (HasAns_/NoAns_: the two parts)."
)


def _span_logits(out: Any) -> Any:
    import torch

    return torch.stack((out.start_logits, out.end_logits), dim=-1)


class QAOptions(TaskOptions):
    name: Literal["qa"] = "qa"
    unanswerable: bool = Field(
        False,
        description="QA (SQuAD v2): questions may have no answer in the context; they train on [CLS], "
        "and an empty answer is predicted when the no-answer score beats the best span's.",
    )
    null_threshold: float = Field(
        0.0,
        description="QA with unanswerable questions: answer nothing when the no-answer score exceeds the "
        "best span's score (start + end logit) by more than this; higher: fewer empty answers.",
    )
    n_best: int = Field(
        20, ge=1, description="QA: start and end candidates per window, and spans kept per question."
    )
    max_answer_length: int = Field(30, ge=1, description="QA: longest answer, in tokens.")
    max_question_length: int = Field(
        64, ge=1, description="QA: questions are cut to this many tokens (the context fills the window)."
    )


@register_task("qa")
class QuestionAnsweringTask(Task):
    name = "qa"
    options = QAOptions
    auto_class_name = "AutoModelForQuestionAnswering"
    report_kinds: ClassVar[dict[str, ReportKind]] = {"qa": ReportKind("f1", note=SQUAD_NOTE)}
    inputs = ("questions",)

    # --- data ---------------------------------------------------------------------------------
    def read(self, path: str, *, labeled: bool = True) -> Any:
        from rawtune.data.readers.squad import read_squad

        data = read_squad(path, labeled=labeled, repair=self.cfg.data.repair_answers)
        if data.answer_repairs:
            log.warning("%s: moved %d answer_start offsets to their answer text", path, data.answer_repairs)
        return data

    def label_space(self, train: Any) -> Any:
        from rawtune.data.labels import LabelSpace

        self.check_labels(None, train, "training data")
        return LabelSpace(LABELS)

    def check_labels(self, space: Any, data: Any, split: str) -> None:
        """Unanswerable questions need a model that may answer nothing (task.unanswerable)."""
        n = data.unanswerable
        if n and not self.cfg.task.unanswerable:
            first = next(ex for ex in data.examples if ex.answers == ())
            raise DataError(
                f"{split} has {n} unanswerable question(s) (SQuAD v2), the first at {first.where}; "
                "train with --task.unanswerable=true to predict 'no answer'",
                file=data.file,
            )

    def head_config(self, space: Any) -> dict[str, Any]:
        return {
            "num_labels": 2,
            "id2label": dict(enumerate(LABELS)),
            "label2id": {k: i for i, k in enumerate(LABELS)},
        }

    def example(self, item: Any, where: str) -> Any:
        """A prediction input: {"question", "context"} or a [question, context] pair."""
        from rawtune.data.readers.squad import QAExample

        if isinstance(item, dict) and {"question", "context"} <= item.keys():
            question, context = item["question"], item["context"]
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            question, context = item
        else:
            raise DataError(
                f"qa input must be a {{'question', 'context'}} object or a pair, not {item!r:.60}"
            )
        for name, value in (("question", question), ("context", context)):
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"qa input: {name} must be a non-empty string, not {value!r:.40}")
        return QAExample(question, context, None, "", where, 0, where)

    # --- encoding -----------------------------------------------------------------------------
    def encode(
        self, tokenizer: Any, examples: list[Any], *, labels: bool, offsets: bool
    ) -> list[dict[str, Any]]:
        from rawtune.tasks.qa_features import encode_questions

        d, t = self.cfg.data, self.cfg.task
        return encode_questions(
            tokenizer,
            examples,
            max_length=d.max_length,
            stride=d.stride,
            max_question_length=t.max_question_length,
            labels=labels,
            offsets=offsets,
        )

    def train_features(self, tokenizer: Any, data: Any, space: Any) -> list[dict[str, Any]]:
        return self.encode(tokenizer, data.examples, labels=True, offsets=False)

    def collator(self, tokenizer: Any) -> QACollator:
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.qa_features import QACollator

        return QACollator(pad_id(tokenizer))

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        from rawtune.tasks.qa_features import QuestionAnsweringLoss

        return QuestionAnsweringLoss(model)

    # --- decoding -----------------------------------------------------------------------------
    def _decode(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], run: Inference
    ) -> tuple[list[Decision], float | None, list[tuple[str, float]]]:
        from rawtune.tasks.features import forward_batches
        from rawtune.tasks.qa_decode import SpanDecoder

        t = self.cfg.task
        labeled = bool(examples) and examples[0].answers is not None
        features = self.encode(tokenizer, examples, labels=labeled, offsets=True)
        decoder = SpanDecoder(features, len(examples), n_best=t.n_best, max_answer_length=t.max_answer_length)
        forward_batches(
            model,
            features,
            self.collator(tokenizer),
            run.batch_size,
            decoder,
            autocast=run.autocast,
            progress=run.progress,
            outputs=_span_logits,
        )
        contexts = [ex.context for ex in examples]
        decisions = decoder.decide(contexts, allow_null=t.unanswerable, null_threshold=t.null_threshold)
        return decisions, decoder.loss(), decoder.margins(contexts)

    def evaluate(self, model: nn.Module, tokenizer: Any, data: Any, space: Any, run: Inference) -> dict:
        from rawtune.evaluation.qa_metrics import best_thresholds, qa_metrics

        decisions, loss, margins = self._decode(model, tokenizer, data.examples, run)
        golds = [[a.text for a in ex.answers] for ex in data.examples]
        out = {"loss": loss, **qa_metrics([d.answer for d in decisions], golds)}
        if self.cfg.task.unanswerable and any(not g for g in golds):
            # SQuAD v2: the threshold that would have scored best here (the v2.0 script reports it too)
            out.update(best_thresholds([a for a, _ in margins], [m for _, m in margins], golds))
        return out

    def predict(
        self, model: nn.Module, tokenizer: Any, examples: list[Any], space: Any, run: Inference
    ) -> list[dict[str, Any]]:
        decisions, _, _ = self._decode(model, tokenizer, examples, run)
        return [
            {
                "question": ex.question,
                "context": ex.context,
                "answer": d.answer,
                "start": d.start,
                "end": d.end,
                "score": round(d.score, 6),
            }
            for ex, d in zip(examples, decisions)
        ]

    def with_null_threshold(self, value: float) -> None:
        """`--null-threshold` of `evaluate` and `predict`: decide no-answer with another threshold
        than the run was trained with (e.g. a dev evaluation's `best_f1_thresh`), without retraining."""
        if not self.cfg.task.unanswerable:
            super().with_null_threshold(value)
        task = self.cfg.task.model_copy(update={"null_threshold": value})
        self.cfg = self.cfg.model_copy(update={"task": task})


def set_null_threshold(task: Task, value: float) -> None:
    """`--null-threshold` on a loaded run's task (refused unless it decides no-answer)."""
    task.with_null_threshold(value)
