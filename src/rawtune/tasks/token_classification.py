"""Token classification (NER): words -> sub-word windows -> per-word tags.

Encoding: each sentence is tokenised once (fast tokenizer, pre-split words). A document — the
sentences of one `-DOCSTART-` block, JSONL document id or blank-line-separated `.txt` paragraph, or
else each sentence alone — is one stream of sub-tokens cut into overlapping windows of
`max_length`; neighbouring windows share `stride` tokens. Every word is predicted from the window
where its first sub-token is farthest from an edge, and trained there only, so training and
prediction see a word with the same context (FLERT's document context, at the cost of the overlap
rather than of padding every sentence with neighbours). With word shapes on (`modeling.word_shapes`)
each sub-token carries its word's shape as `token_type_ids`. Words the tokenizer turns into nothing
(e.g. a lone zero-width space) are predicted `O`.

Decoding: per sentence, Viterbi over the word-level scores restricted to valid IOB2 transitions
(with a CRF's learned transition scores when the model has one), or the plain argmax.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rawtune.modeling.word_shapes import sentence_shapes
from rawtune.tasks.features import IGNORE, content_size, special_tokens, windows
from rawtune.tasks.tag_decoding import allowed_transitions, segments, viterbi


@dataclass
class EncodedTokens:
    features: list[dict[str, Any]]
    n_words: list[int]  # words per sentence
    uncovered: int = 0  # words with no sub-token (predicted O)
    windows_per_sentence: dict[int, int] = field(default_factory=dict)


def documents(docs: Sequence[int | None] | None, n: int) -> Iterator[list[int]]:
    """Runs of consecutive sentences of one document (a sentence without a document is alone)."""
    run: list[int] = []
    for i in range(n):
        d = docs[i] if docs is not None else None
        if run and (d is None or docs[run[-1]] != d):  # type: ignore[index]
            yield run
            run = []
        run.append(i)
    if run:
        yield run


@dataclass
class _Stream:
    """A document's sub-tokens: ids, word shapes, and (position, sentence, word) of each word's first
    sub-token, plus the owner (sentence, word) of every sub-token."""

    ids: list[int] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    firsts: list[tuple[int, int, int]] = field(default_factory=list)
    owners: list[tuple[int, int] | None] = field(default_factory=list)
    first_set: set[int] = field(default_factory=set)


def _stream(enc: Any, sentences: Sequence[Sequence[str]], group: list[int], shapes: bool) -> _Stream:
    st = _Stream()
    for s in group:
        word_ids = enc.word_ids(s)
        shape = sentence_shapes(sentences[s]) if shapes else None
        base = len(st.ids)
        st.ids.extend(enc["input_ids"][s])
        for p, w in enumerate(word_ids):
            st.types.append(shape[w] if shape is not None and w is not None else 0)
            st.owners.append(None if w is None else (s, w))
            if w is not None and (p == 0 or word_ids[p - 1] != w):
                st.firsts.append((base + p, s, w))
                st.first_set.add(base + p)
    return st


def encode_tokens(
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]] | None,
    *,
    max_length: int,
    stride: int,
    subword_labels: str = "first",
    docs: Sequence[int | None] | None = None,
    b_to_i: dict[int, int] | None = None,
    shapes: bool = False,
) -> EncodedTokens:
    prefix, suffix = special_tokens(tokenizer)
    size = content_size(tokenizer, max_length)
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
    features: list[dict[str, Any]] = []
    out = EncodedTokens(features, [len(s) for s in sentences])
    for group in documents(docs, len(sentences)):
        st = _stream(enc, sentences, group, shapes)
        covered = {(s, w) for _, s, w in st.firsts}
        out.uncovered += sum(len(sentences[s]) for s in group) - len(covered)
        spans = windows(len(st.ids), size, stride)
        home = _home_windows(st.firsts, spans)
        starts = [p for p, _, _ in st.firsts]
        for k, (start, end) in enumerate(spans):
            lo, hi = bisect.bisect_left(starts, start), bisect.bisect_left(starts, end)
            mine = [(p, s, w) for p, s, w in st.firsts[lo:hi] if home[(s, w)] == k]
            base = len(prefix) - start
            feat: dict[str, Any] = {
                "input_ids": prefix + st.ids[start:end] + suffix,
                "positions": [base + p for p, _, _ in mine],  # the words predicted from this window
                "sentences": [s for _, s, _ in mine],
                "words": [w for _, _, w in mine],
            }
            if shapes:
                feat["token_type_ids"] = [0] * len(prefix) + st.types[start:end] + [0] * len(suffix)
            for s in {s for _, s, _ in st.firsts[lo:hi]}:
                out.windows_per_sentence[s] = out.windows_per_sentence.get(s, 0) + 1
            if tag_ids is not None:
                n, span = len(feat["input_ids"]), (start, end, k)
                feat["labels"] = _labels(n, base, st, span, home, tag_ids, subword_labels, b_to_i)
            features.append(feat)
    return out


def _home_windows(
    firsts: list[tuple[int, int, int]], spans: list[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The window each word is predicted (and trained) in: where its first sub-token is farthest
    from an edge (the first such window on a tie)."""
    span_starts = [a for a, _ in spans]
    home: dict[tuple[int, int], int] = {}
    for p, s, w in firsts:
        best, best_c = -1, -1
        k = bisect.bisect_right(span_starts, p) - 1
        while k >= 0 and spans[k][1] > p:  # the windows holding p, last first
            c = min(p - spans[k][0], spans[k][1] - 1 - p)
            if c >= best_c:
                best, best_c = k, c
            k -= 1
        home[(s, w)] = best
    return home


def _labels(
    n: int,
    offset: int,
    st: _Stream,
    span: tuple[int, int, int],
    home: dict[tuple[int, int], int],
    tag_ids: Sequence[Sequence[int]],
    subword_labels: str,
    b_to_i: dict[int, int] | None,
) -> list[int]:
    """Labels of the words whose home is window `span` = (start, end, index): at the first sub-token
    (and, with subword_labels=all, I-X at continuation pieces of a B-X word); the rest is context."""
    start, end, k = span
    labels = [IGNORE] * n
    for p in range(start, end):
        owner = st.owners[p]
        if owner is None or home.get(owner) != k:
            continue
        s, w = owner
        tag = tag_ids[s][w]
        if p in st.first_set:
            labels[offset + p] = tag
        elif subword_labels == "all":
            labels[offset + p] = (b_to_i or {}).get(tag, tag)
    return labels


class TokenClassifierLoss(nn.Module):
    """Cross-entropy over labelled sub-tokens only (optionally class-weighted), one unit per token;
    or, when the model has a CRF (`model.crf`), the CRF's negative log-likelihood of each sentence
    part in a window, one unit per labelled word. A `weight` per window (weighted examples, e.g.
    pseudo-labels) scales each of its units' losses; the mean still divides by the units, so a
    weight below 1 makes those examples count for less, whatever else is in the batch."""

    def __init__(self, model: nn.Module, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.model = model
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(
        self, input_ids, attention_mask, labels, token_type_ids=None, segment_ids=None, weight=None
    ) -> dict[str, Any]:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        crf = getattr(self.model, "crf", None)
        if crf is not None and segment_ids is not None:
            return crf_loss(crf, logits, labels, segment_ids, weight)
        return self.from_logits(logits, labels, weight)

    def from_logits(
        self, logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None
    ) -> dict[str, Any]:
        """The loss of given logits (distillation computes the student's logits itself)."""
        selected = labels != IGNORE
        logits, target = logits[selected].float(), labels[selected]
        count = int(target.numel())
        losses = F.cross_entropy(logits, target, weight=self.class_weights, reduction="none")
        if weight is not None:  # each token's loss times its window's weight
            losses = losses * weight.to(losses.dtype)[:, None].expand_as(labels)[selected]
        if self.class_weights is not None:  # weighted mean, as torch's reduction="mean" defines it
            loss = losses.sum() / self.class_weights[target].sum().clamp_min(1e-12)
        else:
            loss = losses.sum() / max(count, 1)
        return {
            "loss": loss,
            "loss_sum": loss.detach().double() * count,
            "count": count,
            "correct": (logits.detach().argmax(-1) == target).sum(),
        }


def crf_loss(
    crf: Any,
    logits: torch.Tensor,
    labels: torch.Tensor,
    segment_ids: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> dict[str, Any]:
    """The CRF's mean negative log-likelihood over the labelled words of a batch, each window's
    words grouped by sentence (`segment_ids`: the sentence of a labelled first sub-token, else -1);
    with `weight`, each segment's likelihood counts its window's weight."""
    seg = segment_ids.cpu()
    positions = [torch.nonzero(row >= 0).flatten().tolist() for row in seg]
    ids = [[int(seg[r, p]) for p in ps] for r, ps in enumerate(positions)]
    rows, pos, layout, mask = segments(labels.cpu(), positions, ids)
    count = int(mask.sum())
    if count == 0:
        return {"loss": logits.sum() * 0.0, "loss_sum": 0.0, "count": 0, "correct": None}
    dev = logits.device
    flat = layout.clamp_min(0)
    emissions = logits[rows.to(dev), pos.to(dev)][flat.to(dev)]
    tags = labels.cpu()[rows, pos][flat]
    per_segment = weight[rows[layout[:, 0]].to(weight.device)].to(dev) if weight is not None else None
    total = crf.nll(emissions, tags.to(dev), mask.to(dev), per_segment)
    return {"loss": total / count, "loss_sum": float(total.detach()), "count": count, "correct": None}


class WordDecoder:
    """Collects, batch by batch, each word's label scores from its home window (log-probabilities,
    or a CRF's emissions) and the loss over labelled positions; holds per-word score vectors, never
    a batch's logits. `finish()` decodes each sentence: Viterbi over valid IOB2 transitions
    (`decode="viterbi"`, with the CRF's transition scores when there is one) or the argmax."""

    def __init__(
        self, encoded: EncodedTokens, labels: Sequence[str], *, decode: str = "viterbi", crf: Any = None
    ):
        self.encoded, self.labels, self.decode, self.crf = encoded, list(labels), decode, crf
        # a word no window covers (no sub-tokens) is O: score 0 there, very low elsewhere
        outside = self.labels.index("O") if "O" in self.labels else 0
        floor = np.full(len(self.labels), -1e4, dtype=np.float32)
        floor[outside] = 0.0
        self.scores = [np.tile(floor, (n, 1)) for n in encoded.n_words]
        self.tags: list[np.ndarray] = []
        self.prob: list[np.ndarray] = []
        self.loss_sum, self.count = 0.0, 0

    def __call__(self, idx: list[int], batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        if "labels" in batch:
            labels = batch["labels"].to(logits.device)
            sel = labels != IGNORE
            self.loss_sum += float(F.cross_entropy(logits[sel], labels[sel], reduction="sum"))
            self.count += int(sel.sum())
        scores = (logits if self.crf is not None else logits.log_softmax(-1)).float().cpu().numpy()
        for row, i in enumerate(idx):
            f = self.encoded.features[i]
            for pos, s, w in zip(f["positions"], f["sentences"], f["words"]):
                self.scores[s][w] = scores[row, pos]

    def finish(self) -> WordDecoder:
        """Decode every sentence into `tags` (label ids) and `prob` (each chosen label's probability)."""
        start, trans = allowed_transitions(self.labels)
        crf_start, crf_trans = self.crf.numpy_scores() if self.crf is not None else (None, None)
        for sc in self.scores:
            if self.decode == "viterbi" or self.crf is not None:
                path = viterbi(sc, start, trans, crf_trans, crf_start)
            else:
                path = sc.argmax(-1)
            top = sc.max(-1, keepdims=True) if len(sc) else sc
            probs = np.exp(sc - top - np.log(np.exp(sc - top).sum(-1, keepdims=True))) if len(sc) else sc
            self.tags.append(path.astype(np.int64))
            self.prob.append(probs[np.arange(len(path)), path].astype(np.float32))
        return self

    def loss(self) -> float | None:
        return self.loss_sum / self.count if self.count else None
