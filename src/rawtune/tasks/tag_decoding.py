"""Tag sequences that are valid IOB2 by construction: Viterbi decoding over the allowed transitions
(no `I-X` after `O`, after another type, or at the start of a sentence), and an optional linear-chain
CRF whose learned transition scores the same decoder uses.

Why: an argmax per word can emit `O I-ORG`, which strict evaluation and `predict` then read in two
different ways. Decoding only valid sequences makes the scored tags and the predicted entities the
same thing. The CRF is written here rather than taken from a package because the maintained
options (pytorch-crf, last released 2019) neither mask invalid transitions nor handle the
per-sentence segments of a document window; the forward algorithm is a few lines of logsumexp.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

NEG = -1e4  # a transition that is never taken (finite, so logsumexp stays finite in fp32 and bf16)


def allowed_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(start[j], trans[i, j]) booleans: may a sentence start with label j; may j follow i (IOB2)."""
    n = len(labels)
    start = np.array([not lab.startswith("I-") for lab in labels])
    trans = np.ones((n, n), dtype=bool)
    for j, lab in enumerate(labels):
        if lab.startswith("I-"):
            kind = lab[2:]
            for i, prev in enumerate(labels):
                trans[i, j] = prev in (f"B-{kind}", f"I-{kind}")
    return start, trans


def viterbi(
    scores: np.ndarray,
    start: np.ndarray,
    trans: np.ndarray,
    trans_scores: np.ndarray | None = None,
    start_scores: np.ndarray | None = None,
) -> np.ndarray:
    """The best label path through `scores` (words x labels, log-probabilities or CRF emissions) that
    only takes allowed transitions; `trans_scores`/`start_scores` add a CRF's learned scores."""
    n, k = scores.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pair = np.where(trans, 0.0 if trans_scores is None else trans_scores, NEG)
    best = scores[0] + np.where(start, 0.0 if start_scores is None else start_scores, NEG)
    back = np.zeros((n, k), dtype=np.int64)
    for t in range(1, n):
        total = best[:, None] + pair  # [from, to]
        back[t] = total.argmax(0)
        best = total.max(0) + scores[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(best.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


class CRF(nn.Module):
    """Linear-chain CRF over word-level emissions: learned start and transition scores, with the
    IOB2-invalid ones fixed at NEG. Trained by the negative log-likelihood of the gold path of each
    segment (a sentence, or the part of it inside one window)."""

    def __init__(self, labels: Sequence[str]):
        super().__init__()
        start, trans = allowed_transitions(labels)
        self.register_buffer("start_mask", torch.from_numpy(start))
        self.register_buffer("trans_mask", torch.from_numpy(trans))
        self.start = nn.Parameter(torch.zeros(len(labels)))
        self.trans = nn.Parameter(torch.zeros(len(labels), len(labels)))

    def scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(start, transition) scores with the invalid ones masked."""
        return (
            torch.where(self.start_mask, self.start, torch.full_like(self.start, NEG)),
            torch.where(self.trans_mask, self.trans, torch.full_like(self.trans, NEG)),
        )

    def nll(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Summed negative log-likelihood of segments: emissions [S, T, L], tags [S, T], mask [S, T]
        (each segment's words first, then padding); `weights` [S] scale each segment's."""
        start, trans = self.scores()
        emissions = emissions.float()
        first = emissions[:, 0]
        gold = start[tags[:, 0]] + first.gather(1, tags[:, :1]).squeeze(1)
        alpha = start + first  # [S, L]
        for t in range(1, emissions.shape[1]):
            on = mask[:, t]
            step = (
                emissions[:, t].gather(1, tags[:, t : t + 1]).squeeze(1) + trans[tags[:, t - 1], tags[:, t]]
            )
            gold = gold + torch.where(on, step, torch.zeros_like(step))
            nxt = torch.logsumexp(alpha[:, :, None] + trans[None], dim=1) + emissions[:, t]
            alpha = torch.where(on[:, None], nxt, alpha)
        nll = torch.logsumexp(alpha, dim=1) - gold
        return (nll * weights.to(nll.dtype) if weights is not None else nll).sum()

    def numpy_scores(self) -> tuple[np.ndarray, np.ndarray]:
        start, trans = self.scores()
        return start.detach().float().cpu().numpy(), trans.detach().float().cpu().numpy()


def segments(
    labels: torch.Tensor, positions: list[list[int]], seg_ids: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather the labelled word positions of each row into segments (one per sentence part in the
    row): (row index [N], position [N]) flattened, and the segment layout: index into the flat list
    [S, T] (-1 for padding) with its mask. `positions[row]` and `seg_ids[row]` are parallel lists."""
    rows, pos, seg_of = [], [], []
    key_to_seg: dict[tuple[int, int], int] = {}
    for r, (ps, ss) in enumerate(zip(positions, seg_ids)):
        for p, s in zip(ps, ss):
            if int(labels[r, p]) < 0:
                continue
            seg_of.append(key_to_seg.setdefault((r, s), len(key_to_seg)))
            rows.append(r)
            pos.append(p)
    n_seg = len(key_to_seg)
    lengths = np.bincount(np.array(seg_of, dtype=np.int64), minlength=n_seg) if seg_of else np.zeros(0, int)
    width = int(lengths.max()) if n_seg else 0
    layout = np.full((n_seg, width), -1, dtype=np.int64)
    fill = np.zeros(n_seg, dtype=np.int64)
    for i, s in enumerate(seg_of):
        layout[s, fill[s]] = i
        fill[s] += 1
    layout_t = torch.from_numpy(layout)
    return torch.tensor(rows), torch.tensor(pos), layout_t, layout_t >= 0


def load_crf(model: nn.Module, model_dir: str) -> None:
    """Attach the CRF a run was trained with (`config.crf`) and load its scores from the saved
    weights (`from_pretrained` leaves keys outside the architecture aside)."""
    from pathlib import Path

    from safetensors import safe_open

    from rawtune.errors import ModelError

    labels = [model.config.id2label[i] for i in sorted(model.config.id2label)]
    crf = CRF(labels)
    found: dict[str, torch.Tensor] = {}
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                if key.endswith(("crf.start", "crf.trans")):
                    found[key.rsplit(".", 1)[1]] = f.get_tensor(key)
    if set(found) != {"start", "trans"}:
        raise ModelError(
            f"{model_dir}: the model was trained with a CRF (config.crf) but its weights lack it"
        )
    with torch.no_grad():
        crf.start.copy_(found["start"])
        crf.trans.copy_(found["trans"])
    model.crf = crf.to(next(model.parameters()).device)
