"""`seq2seq`: an encoder-decoder (T5, BART, ...) learns the target from the source by teacher
forcing: the decoder reads the target shifted right and is scored on every target token (the
labels; padding is -100 and carries no loss). Summarisation, translation, any text-to-text task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rawtune.evaluation.metrics import ReportKind
from rawtune.tasks.base import register_task
from rawtune.tasks.generation import GenerationOptions, GenerationTask

if TYPE_CHECKING:
    from torch import nn

    from rawtune.tasks.seq2seq_features import Seq2SeqCollator


class Seq2SeqOptions(GenerationOptions):
    name: Literal["seq2seq"] = "seq2seq"
    scratch_arch = "t5"


@register_task("seq2seq")
class Seq2SeqTask(GenerationTask):
    name = "seq2seq"
    options = Seq2SeqOptions
    report_kinds: ClassVar[dict[str, ReportKind]] = {"seq2seq": ReportKind("rougeL")}
    auto_class_name = "AutoModelForSeq2SeqLM"
    left_pad = False

    def prompts(self, tokenizer: Any, examples: list[Any]) -> list[list[int]]:
        texts = [self.source_text(ex) for ex in examples]
        return tokenizer(texts, truncation=True, max_length=self.cfg.data.max_length)["input_ids"]

    def encode(self, tokenizer: Any, examples: list[Any]) -> list[dict[str, Any]]:
        """Source ids (truncated to data.max_length) and target ids (to data.max_target_length), both
        with the tokenizer's special tokens: T5 ends each with </s>, BART wraps it in <s> ... </s>."""
        sources = self.prompts(tokenizer, examples)
        targets = tokenizer(
            text_target=[ex.target for ex in examples],
            truncation=True,
            max_length=self.cfg.data.max_target_length,
        )["input_ids"]
        return [{"input_ids": s, "labels": t} for s, t in zip(sources, targets)]

    def collator(self, tokenizer: Any) -> Seq2SeqCollator:
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.seq2seq_features import Seq2SeqCollator

        return Seq2SeqCollator(pad_id(tokenizer))

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        from rawtune.tasks.seq2seq_features import Seq2SeqLoss

        return Seq2SeqLoss(model)
