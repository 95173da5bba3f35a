"""Knowledge distillation as a training objective of the one loop (train/objectives.py): the student
learns the teacher's temperature-softened predictions (Hinton et al. 2015; KL * T^2, so the soft
gradient keeps its scale at any temperature) plus, on labeled examples, the task's own loss, and
optionally matches the teacher's hidden states and attention maps (TinyBERT) at mapped layers.

On unlabeled raw text only the soft loss applies: the teacher labels it, the raw-text theme again.
Hand-written: transformers, peft and accelerate ship no distillation objective, and TextBrewer
(the library for it) pins transformers 4 and its own training loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rawtune.errors import DataError
from rawtune.tasks.features import IGNORE
from rawtune.train.devices import model_device

TOKENS = "tokens"


class DistillLoss(nn.Module):
    """`forward(**batch)` -> the loop's loss dict for the student (`.model`, what gets checkpointed
    and saved). The teacher is frozen and stays in eval mode: `train()` never reaches it."""

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        hard: nn.Module,
        kind: str,
        *,
        temperature: float = 2.0,
        alpha: float = 0.5,
        hidden_weight: float = 0.0,
        attention_weight: float = 0.0,
        layer_map: list[int] | None = None,
    ):
        super().__init__()
        self.model = student
        self.hard = hard  # the task's loss module (its .model is the student): class weights etc. kept
        self.kind, self.t, self.alpha = kind, temperature, alpha
        self.hidden_weight, self.attention_weight = hidden_weight, attention_weight
        self.layer_map = list(layer_map or [])
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        # a plain attribute, not a submodule: its weights stay out of the student's state_dict,
        # checkpoints and the optimizer, and `.train()` cannot switch its dropout on
        object.__setattr__(self, "teacher", teacher)
        self.proj: nn.Module | None = None
        if hidden_weight > 0:
            s_dim, t_dim = student.config.hidden_size, teacher.config.hidden_size
            # a student of another width is matched through a learned projection (TinyBERT's W_h)
            self.proj = nn.Linear(s_dim, t_dim, bias=False) if s_dim != t_dim else None

    def _apply(self, fn, recurse=True):  # .to(device) moves the teacher along with the student
        object.__getattribute__(self, "teacher")._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def _teacher_on(self, device: torch.device) -> nn.Module:
        """The teacher where the batch is: `.to()` of this module moves it, but a wrapper that
        places the student by its parameters alone (a sharded launch) would leave it behind."""
        teacher = self.teacher
        if model_device(teacher) != device:
            teacher.to(device)
        return teacher

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        soft_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        hard_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        hidden, att = self.hidden_weight > 0, self.attention_weight > 0
        s = self.model(**kw, output_hidden_states=hidden, output_attentions=att)
        with torch.no_grad():
            t = self._teacher_on(input_ids.device)(**kw, output_hidden_states=hidden, output_attentions=att)
        s_logits, t_logits = s.logits.float(), t.logits.float()
        s_sel, t_sel = s_logits[soft_mask], t_logits[soft_mask]
        n = int(s_sel.shape[0])
        soft = self._soft_sum(s_sel, t_sel) / max(n, 1)
        loss = self.alpha * soft
        if self.alpha < 1.0 and labels is not None:
            loss = loss + (1.0 - self.alpha) * self._hard(s.logits, labels, hard_mask)
        if hidden:
            loss = loss + self.hidden_weight * self._hidden(s.hidden_states, t.hidden_states, attention_mask)
        if att:
            loss = loss + self.attention_weight * self._attention(s.attentions, t.attentions, attention_mask)
        out: dict[str, Any] = {"loss": loss, "loss_sum": loss.detach().double() * n, "count": n}
        if self.kind in (TOKENS, "single"):  # "accuracy" in the log = agreement with the teacher
            out["correct"] = (s_sel.detach().argmax(-1) == t_sel.argmax(-1)).sum()
        return out

    def _soft_sum(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        T = self.t
        if self.kind == "regression":
            return F.mse_loss(s, t, reduction="sum")
        if self.kind == "multi":
            bce = F.binary_cross_entropy_with_logits(s / T, torch.sigmoid(t / T), reduction="sum")
            return bce / s.shape[-1] * T * T
        kl = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), log_target=True, reduction="sum")
        return kl * T * T

    def _hard(
        self, logits: torch.Tensor, labels: torch.Tensor, hard_mask: torch.Tensor | None
    ) -> torch.Tensor:
        if hard_mask is not None:  # sequence tasks: raw-text rows carry placeholder labels
            if not bool(hard_mask.any()):
                return logits.new_zeros(())
            logits, labels = logits[hard_mask], labels[hard_mask]
        return self.hard.from_logits(logits, labels)["loss"]

    def _pairs(self, n_student: int) -> list[tuple[int, int]]:
        return list(enumerate(self.layer_map[:n_student]))

    def _hidden(self, s_h: tuple, t_h: tuple, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.bool()
        losses = []
        for i, j in self._pairs(len(s_h) - 1):
            sh = s_h[i + 1][keep].float()
            if self.proj is not None:
                sh = self.proj(sh)
            losses.append(F.mse_loss(sh, t_h[j + 1][keep].float()))
        return torch.stack(losses).mean()

    def _attention(self, s_a: tuple, t_a: tuple, mask: torch.Tensor) -> torch.Tensor:
        rows = mask.bool()[:, None, :, None]  # the maps of real query tokens (padding rows are noise)
        losses = []
        for i, j in self._pairs(len(s_a)):
            sa, ta = s_a[i].float(), t_a[j].float()
            if sa.shape != ta.shape:
                raise ValueError(
                    f"attention matching needs as many heads in student layer {i} as in teacher layer {j} "
                    f"({sa.shape[1]} vs {ta.shape[1]}); set distill.attention_weight=0"
                )
            diff = (sa - ta).pow(2) * rows
            losses.append(diff.sum() / (rows.sum() * sa.shape[1] * sa.shape[-1]).clamp_min(1))
        return torch.stack(losses).mean()


class DistillCollator:
    """The task's collator plus `soft_mask` (which logits the soft loss covers: every word's first
    sub-token for NER, every row otherwise) and, for sequence tasks, `hard_mask` (rows with a label;
    raw-text rows get a placeholder label the hard loss never sees)."""

    def __init__(
        self, base: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]], kind: str, n_labels: int
    ):
        self.base, self.kind, self.n_labels = base, kind, n_labels

    def _placeholder(self, s: dict[str, Any]) -> Any:
        if self.kind == TOKENS:
            return [IGNORE] * len(s["input_ids"])
        if self.kind == "multi":
            return [0.0] * self.n_labels
        return 0.0 if self.kind == "regression" else 0

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        labeled = ["labels" in s for s in samples]
        batch = self.base([s if "labels" in s else {**s, "labels": self._placeholder(s)} for s in samples])
        if self.kind == TOKENS:
            mask = torch.zeros(batch["input_ids"].shape, dtype=torch.bool)
            for row, s in enumerate(samples):
                mask[row, s["positions"]] = True
            batch["soft_mask"] = mask
        else:
            batch["soft_mask"] = torch.ones(len(samples), dtype=torch.bool)
            batch["hard_mask"] = torch.tensor(labeled)
        return batch


def read_raw_text(path: str, task: Any, limit: int | None = None) -> list[Any]:
    """Unlabeled examples for the task from a text file, one per non-empty line, as the task reads a
    line (`Task.line_example`; sentence pairs: the two texts separated by a tab). Errors name the
    file and line."""
    from rawtune.data.readers.text import text_lines

    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=str(p))
    out: list[Any] = []
    for line in text_lines(str(p)):
        out.append(task.line_example(line.text.strip(), str(p), line.line))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise DataError("no text lines", file=str(p))
    return out


def raw_features(task: Any, tokenizer: Any, examples: list[Any]) -> list[dict[str, Any]]:
    enc = task.encode(tokenizer, examples, None)
    feats = enc.features if hasattr(enc, "features") else enc
    return [f for f in feats if f.get("positions", True)]  # NER windows with no word have nothing to learn
