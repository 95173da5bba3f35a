"""`causal`: a decoder-only model (GPT-2 style) learns the response that follows a prompt. The
sequence is prompt + response + end of text; only the response and the end-of-text token carry
loss (the prompt's labels are -100), so the model is taught to answer, not to write prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rawtune.errors import ModelError
from rawtune.evaluation.metrics import ReportKind
from rawtune.tasks.base import register_task
from rawtune.tasks.generation import GenerationOptions, GenerationTask

if TYPE_CHECKING:
    from torch import nn

    from rawtune.tasks.features import PadCollator


class CausalOptions(GenerationOptions):
    name: Literal["causal"] = "causal"
    scratch_arch = "gpt2"


def _eos(tokenizer: Any) -> int:
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if eos is None:
        raise ModelError("task causal needs a tokenizer with an end-of-text (eos or sep) token")
    return int(eos)


def prompt_response(
    prompt: list[int], response: list[int], eos: int, max_length: int, max_target: int
) -> dict[str, Any]:
    """input_ids = prompt + response + eos, labels -100 on the prompt. The response (eos included)
    keeps at most `max_target` tokens and leaves at least one for the prompt, which loses its
    beginning when the whole is longer than `max_length`."""
    from rawtune.tasks.features import IGNORE

    keep = max(1, min(max_target, max_length - 1))
    reply = [*response[: keep - 1], eos]
    prompt = prompt[-(max_length - len(reply)) :]
    return {"input_ids": prompt + reply, "labels": [IGNORE] * len(prompt) + reply}


@register_task("causal")
class CausalTask(GenerationTask):
    name = "causal"
    options = CausalOptions
    report_kinds: ClassVar[dict[str, ReportKind]] = {"causal": ReportKind("rougeL")}
    auto_class_name = "AutoModelForCausalLM"
    left_pad = True

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        if cfg.tuning.method == "prompt":
            # peft 0.21 with transformers 5 feeds the virtual tokens again at every generated token
            # (positions grow by num_virtual_tokens + 1 a step): wrong text, then an index error
            from rawtune.errors import ConfigError, ConfigIssue

            issue = "'prompt' cannot generate with a decoder-only model here; use lora, ia3 or adapter"
            raise ConfigError([ConfigIssue("tuning.method", issue)])

    def _ids(self, tokenizer: Any, texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"]

    def prompts(self, tokenizer: Any, examples: list[Any]) -> list[list[int]]:
        """Prompts as in training, their last tokens kept so that what is generated fits in
        data.max_length."""
        keep = max(1, self.cfg.data.max_length - self.gen.max_new_tokens)
        return [p[-keep:] for p in self._ids(tokenizer, [self.source_text(ex) for ex in examples])]

    def encode(self, tokenizer: Any, examples: list[Any]) -> list[dict[str, Any]]:
        d = self.cfg.data
        eos = _eos(tokenizer)
        prompts = self._ids(tokenizer, [self.source_text(ex) for ex in examples])
        responses = self._ids(tokenizer, [ex.target for ex in examples])
        return [
            prompt_response(p, r, eos, d.max_length, d.max_target_length) for p, r in zip(prompts, responses)
        ]

    def collator(self, tokenizer: Any) -> PadCollator:
        from rawtune.modeling.tokenizers import pad_id
        from rawtune.tasks.features import PadCollator

        return PadCollator(pad_id(tokenizer), "tokens")

    def train_module(self, model: nn.Module, space: Any, train: Any) -> nn.Module:
        from rawtune.tasks.lm import CausalLM

        return CausalLM(model)
