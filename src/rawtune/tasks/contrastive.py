"""SetFit-style contrastive fine-tuning as an objective of the one training loop (Tunstall et al.
2022): sentence pairs built from the k-shot examples, a cosine-similarity loss over mean-pooled
embeddings (sentence-transformers' CosineSimilarityLoss: MSE between cos(u, v) and 1 for the same
class, 0 for different ones), then a light logistic-regression head on the trained embeddings."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def make_pairs(labels: Sequence[str], iterations: int, seed: int) -> list[tuple[int, int, float]]:
    """(i, j, target) pairs: in each of `iterations` rounds every example gets one positive partner
    (same class, itself only when its class has one example) and one negative partner (another
    class), so positives and negatives are exactly balanced. A pure function of (labels, seed)."""
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    if len(by_class) < 2:
        raise ValueError("contrastive pairs need at least two classes")
    rng = random.Random(seed)
    pairs: list[tuple[int, int, float]] = []
    for _ in range(iterations):
        for i, lab in enumerate(labels):
            same = [j for j in by_class[lab] if j != i] or [i]
            other = [j for c in sorted(by_class) if c != lab for j in by_class[c]]
            pairs.append((i, rng.choice(same), 1.0))
            pairs.append((i, rng.choice(other), 0.0))
    return pairs


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class PairCollator:
    """Pair features {"a": ids, "b": ids, "target": float} -> one padded batch holding every first
    text, then every second text (one forward pass), and the targets."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        seqs = [s["a"] for s in samples] + [s["b"] for s in samples]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[r, : len(s)] = 1
        target = torch.tensor([float(s["target"]) for s in samples])
        return {"input_ids": ids, "attention_mask": mask, "target": target}


class CosinePairLoss(nn.Module):
    """`forward(**batch)` -> the loop's loss dict for the encoder (`.model`, what is checkpointed
    and saved). "accuracy" in the training log: pairs on the right side of cos = 0.5."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.model = encoder

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, target: torch.Tensor
    ) -> dict[str, Any]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        u, v = mean_pool(out.last_hidden_state.float(), attention_mask).chunk(2)
        cos = F.cosine_similarity(u, v, dim=-1)
        n = int(target.shape[0])
        loss_sum = F.mse_loss(cos, target.float(), reduction="sum")
        return {
            "loss": loss_sum / max(n, 1),
            "loss_sum": float(loss_sum.detach()),
            "count": n,
            "correct": ((cos.detach() > 0.5) == (target > 0.5)).sum(),
        }


@torch.no_grad()
def embed(
    encoder: nn.Module, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 64
) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, in the order of `texts` (batched by length)."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for k in range(0, len(order), batch_size):
        rows = order[k : k + batch_size]
        enc = tokenizer(
            [texts[i] for i in rows],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        mask = enc["attention_mask"].to(device)
        hidden = encoder(input_ids=enc["input_ids"].to(device), attention_mask=mask).last_hidden_state
        out[rows] = F.normalize(mean_pool(hidden.float(), mask), dim=-1).cpu().numpy()
    encoder.train(was_training)
    return out


class LogisticHead:
    """The light head: scikit-learn's logistic regression, kept as plain numbers (no pickle)."""

    def __init__(self, labels: list[str], coef: np.ndarray, intercept: np.ndarray):
        self.labels, self.coef, self.intercept = labels, np.asarray(coef), np.asarray(intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y: Sequence[str], c: float = 1.0, seed: int = 0) -> LogisticHead:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(x, list(y))
        return cls([str(c) for c in clf.classes_], clf.coef_, clf.intercept_)

    def scores(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.coef.T + self.intercept
        if z.shape[1] == 1:  # binary: sklearn keeps one row of weights for the second class
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def predict(self, x: np.ndarray) -> list[str]:
        return [self.labels[j] for j in self.scores(x).argmax(1)]

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LogisticHead:
        return cls(list(d["labels"]), np.array(d["coef"]), np.array(d["intercept"]))


class SetFitClassifier(nn.Module):
    """A SetFit run's classifier: the trained encoder and its logistic-regression head, scoring texts
    as the run scored its dev data (`embed`, then the head's probabilities; columns in `labels`
    order). The model of `tasks.scored.ScoredClassificationTask`."""

    probabilities = True

    def __init__(self, encoder: nn.Module, head: LogisticHead, max_length: int):
        super().__init__()
        self.encoder, self.head, self.max_length = encoder, head, max_length

    def class_scores(self, tokenizer: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.head.scores(embed(self.encoder, tokenizer, list(texts), self.max_length, batch_size))
