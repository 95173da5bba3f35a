"""Language modelling on packed raw-text blocks: masked LM (dynamic, optionally whole-word) and
causal LM. One `LanguageModeling` task gives the loop its collator and training module."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rawtune.config.schema import ObjectiveConfig
from rawtune.registry import Registry
from rawtune.tasks.masking import IGNORE, mask_tokens

# Module of each architecture that maps hidden states [*, H] to vocabulary logits [*, V]; with it the
# MLM loss is computed at masked positions only (~15 %), skipping most of the output projection.
MLM_HEADS = {
    "bert": "cls",
    "roberta": "lm_head",
    "xlm-roberta": "lm_head",
    "camembert": "lm_head",
    "megatron-bert": "cls",
    "ernie": "cls",
    "data2vec-text": "lm_head",
    "xmod": "lm_head",
}

# A registered objective is a training module class, built as `cls(model, sparse_head=...)`, whose
# `collator` attribute is the class of its collator, built as `collator(tokenizer, cfg, seed, salt)`.
OBJECTIVES: Registry[type[nn.Module]] = Registry(
    "objective", members=("rawtune.tasks.lm", "rawtune.tasks.span")
)


class LMCollator:
    """Pads packed blocks (to a multiple of 8), masks (MLM) or shifts-ready labels (CLM)."""

    def __init__(self, tokenizer, cfg: ObjectiveConfig, seed: int, salt: int):
        self.cfg, self.seed, self.salt = cfg, seed, salt
        self.vocab_size = len(tokenizer)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        )
        self.mask_id = tokenizer.mask_token_id
        self.special = np.zeros(
            max(self.vocab_size, max(tokenizer.all_special_ids, default=0) + 1), dtype=bool
        )
        self.special[tokenizer.all_special_ids] = True

    def __call__(
        self, samples: list[dict[str, Any]], sample_ids: list[int], epoch: int
    ) -> dict[str, torch.Tensor]:
        lengths = [int(s["length"]) for s in samples]
        width = min(len(samples[0]["input_ids"]), math.ceil(max(lengths) / 8) * 8)
        ids = np.full((len(samples), width), self.pad_id, dtype=np.int64)
        labels = np.full_like(ids, IGNORE)
        for row, (s, n, sid) in enumerate(zip(samples, lengths, sample_ids)):
            tokens = np.asarray(s["input_ids"][:n], dtype=np.int64)
            if self.cfg.name == "mlm":
                rng = np.random.default_rng([self.seed, self.salt, epoch, sid])
                maskable = ~self.special[tokens]
                ids[row, :n], labels[row, :n] = mask_tokens(
                    tokens,
                    np.asarray(s["word_starts"][:n]),
                    maskable,
                    rng,
                    self.cfg,
                    self.mask_id,
                    self.vocab_size,
                )
            else:
                ids[row, :n] = labels[row, :n] = tokens
        batch = {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels)}
        if min(lengths) < width:
            mask = np.arange(width)[None, :] < np.asarray(lengths)[:, None]
            batch["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
        return batch


def _outputs(logits: torch.Tensor, target: torch.Tensor) -> dict[str, Any]:
    loss_sum = F.cross_entropy(logits.float(), target, reduction="sum")
    count = int(target.numel())
    return {
        "loss": loss_sum / max(count, 1),
        "loss_sum": loss_sum.detach(),
        "count": count,
        "correct": (logits.detach().argmax(-1) == target).sum(),
    }


@OBJECTIVES.register("mlm")
class MaskedLM(nn.Module):
    collator = LMCollator

    def __init__(self, model: nn.Module, sparse_head: bool = True):
        super().__init__()
        self.model = model
        name = MLM_HEADS.get(getattr(model.config, "model_type", ""))
        self.sparse = bool(sparse_head and name and hasattr(model, name))
        self._head_name = name

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, Any]:
        selected = labels != IGNORE
        if self.sparse:
            hidden = self.model.base_model(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            logits = getattr(self.model, self._head_name)(hidden[selected])
        else:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits[selected]
        return _outputs(logits, labels[selected])


@OBJECTIVES.register("clm")
class CausalLM(nn.Module):
    collator = LMCollator

    def __init__(self, model: nn.Module, sparse_head: bool = True):
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, Any]:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
        target = labels[:, 1:]
        selected = target != IGNORE
        return _outputs(logits[selected], target[selected])


@dataclass
class LanguageModeling:
    cfg: ObjectiveConfig
    tokenizer: Any

    TRAIN_SALT = 11
    EVAL_SALT = 13

    def check(self) -> None:
        from rawtune.errors import ModelError

        if self.cfg.name == "mlm" and self.tokenizer.mask_token_id is None:
            raise ModelError(
                "objective mlm needs a tokenizer with a mask token; this one has none "
                "(use objective.name=clm for decoder models)"
            )

    def module(self, model: nn.Module) -> nn.Module:
        return OBJECTIVES.get(self.cfg.name)(model, sparse_head=self.cfg.sparse_head)

    def collator(self, seed: int, train: bool) -> Any:
        salt = self.TRAIN_SALT if train else self.EVAL_SALT
        return OBJECTIVES.get(self.cfg.name).collator(self.tokenizer, self.cfg, seed, salt)

    @staticmethod
    def finalize(metrics: dict[str, Any]) -> dict[str, Any]:
        out = {"loss": metrics["loss"], "perplexity": math.exp(min(metrics["loss"], 700.0))}
        if "accuracy" in metrics:
            out["accuracy"] = metrics["accuracy"]
        out["tokens"] = metrics["count"]
        return out
