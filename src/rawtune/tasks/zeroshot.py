"""Zero-shot scores, one row per text and one column per label (higher is more likely):
cosine similarity of sentence embeddings to label descriptions, the masked-LM logit of each label's
verbaliser word at a cloze prompt's mask, or an NLI model's entailment logit for a hypothesis naming
the label. No gradients; inputs are batched by length (less padding) and scores put back in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rawtune.errors import ConfigError, ConfigIssue


def describe(labels: Sequence[str], descriptions: dict[str, list[str]]) -> list[list[str]]:
    """Each label's descriptions; by default its name with '_' and '-' read as spaces."""
    return [descriptions.get(lab) or [lab.replace("_", " ").replace("-", " ")] for lab in labels]


def _by_length(texts: Sequence[Any], batch_size: int) -> Iterator[list[int]]:
    order = sorted(range(len(texts)), key=lambda i: len(str(texts[i])))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _run(texts: Sequence[Any], batch_size: int, score: Callable[[list[Any]], torch.Tensor]) -> torch.Tensor:
    """score(batch) for length-sorted batches, rows returned in the input order."""
    out: torch.Tensor | None = None
    with torch.inference_mode():
        for idx in _by_length(texts, batch_size):
            rows = score([texts[i] for i in idx]).float()
            if out is None:
                out = torch.empty((len(texts), *rows.shape[1:]), dtype=torch.float32)
            out[torch.tensor(idx)] = rows
    if out is None:
        raise ValueError("no texts to score")
    return out


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def embed(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    pooling: Any,
    batch_size: int = 32,
    max_length: int = 128,
) -> torch.Tensor:
    """Sentence embeddings [n, hidden]: mean (over the attention mask), cls or max pooling of the
    last hidden states, L2-normalised when `pooling.normalize` (sentence-transformers' layout)."""

    def score(batch: list[str]) -> torch.Tensor:
        enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        enc = {k: v.to(_device(model)) for k, v in enc.items()}
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if pooling.mode == "cls":
            pooled = hidden[:, 0]
        elif pooling.mode == "max":
            pooled = hidden.masked_fill(mask == 0, float("-inf")).max(1).values
        else:
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1) if pooling.normalize else pooled

    return _run(texts, batch_size, score)


def embedding_scores(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    label_texts: list[list[str]],
    pooling: Any,
    batch_size: int = 32,
    max_length: int = 128,
) -> np.ndarray:
    """Cosine similarity [n, labels] of each text to each label's mean description embedding."""
    flat = [d for descs in label_texts for d in descs]
    desc = F.normalize(embed(model, tokenizer, flat, pooling, batch_size, max_length), dim=-1)
    means, start = [], 0
    for descs in label_texts:
        means.append(desc[start : start + len(descs)].mean(0))
        start += len(descs)
    labels = F.normalize(torch.stack(means), dim=-1)
    text = F.normalize(embed(model, tokenizer, texts, pooling, batch_size, max_length), dim=-1)
    return (text @ labels.T).numpy()


def verbalizer_ids(tokenizer: Any, verbalizer: dict[str, str], labels: Sequence[str]) -> list[int]:
    """The vocabulary id of each label's verbaliser word; a word that is not one token is refused.
    The word is looked up as it reads after a space (byte-level BPE's 'Ġword'), then bare."""
    ids, issues = [], []
    for lab in labels:
        word = verbalizer[lab]
        pieces = {}
        for form in (" " + word, word):
            pieces[form] = tokenizer.tokenize(form)
            if (
                len(pieces[form]) == 1
                and tokenizer.convert_tokens_to_ids(pieces[form][0]) != tokenizer.unk_token_id
            ):
                ids.append(tokenizer.convert_tokens_to_ids(pieces[form][0]))
                break
        else:
            issues.append(
                ConfigIssue(
                    f"verbalizer.{lab}",
                    f"the word {word!r} is not a single token in the model's vocabulary: it tokenizes as "
                    f"{pieces[word]}; choose a word that is one token",
                )
            )
    if issues:
        raise ConfigError(issues)
    return ids


def cloze_prompts(tokenizer: Any, texts: Sequence[str], template: str, max_length: int) -> list[str]:
    """The template filled with each text and the mask token; a text too long to leave the prompt
    within max_length is cut (at a token boundary) so that the mask always survives."""
    mask = tokenizer.mask_token
    if mask is None:
        raise ConfigError(
            [ConfigIssue("method", "the tokenizer has no mask token: cloze needs an MLM model")]
        )
    overhead = len(tokenizer(template.format(text="", mask=mask))["input_ids"])
    budget = max(1, max_length - overhead)
    out = []
    for text in texts:
        text = text.replace(mask, " ")
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) > budget:
            text = text[: enc["offset_mapping"][budget - 1][1]]
        out.append(template.format(text=text, mask=mask))
    return out


def mlm_head(model: Any) -> Any | None:
    """The module mapping hidden states to vocabulary logits, where the architecture is known."""
    from rawtune.tasks.lm import MLM_HEADS

    name = MLM_HEADS.get(getattr(model.config, "model_type", ""))
    return getattr(model, name, None) if name else None


def cloze_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    token_ids: Sequence[int],
    batch_size: int = 32,
    max_length: int = 128,
) -> np.ndarray:
    """[n, labels]: the MLM logit of each label's token at the prompt's mask (the vocabulary
    projection is computed at the mask only, where the head is known)."""
    head, wanted = mlm_head(model), torch.tensor(list(token_ids))

    def score(batch: list[str]) -> torch.Tensor:
        enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        enc = {k: v.to(_device(model)) for k, v in enc.items()}
        at = enc["input_ids"] == tokenizer.mask_token_id
        if not bool((at.sum(1) == 1).all()):
            raise ValueError("each cloze prompt must hold exactly one mask token")
        if head is not None:
            logits = head(model.base_model(**enc).last_hidden_state[at])
        else:
            logits = model(**enc).logits[at]
        return logits[:, wanted.to(logits.device)]

    return _run(list(prompts), batch_size, score).numpy()


def nli_scores(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    hypotheses: list[list[str]],
    entail: int,
    batch_size: int = 32,
    max_length: int = 128,
) -> np.ndarray:
    """[n, labels]: the entailment logit of (text, hypothesis), averaged over a label's hypotheses."""
    flat = [h for hyps in hypotheses for h in hyps]
    pairs = [(t, h) for t in texts for h in flat]

    def score(batch: list[tuple[str, str]]) -> torch.Tensor:
        enc = tokenizer(
            [p for p, _ in batch],
            [h for _, h in batch],
            padding=True,
            truncation="only_first",
            max_length=max_length,
            return_tensors="pt",
        )
        enc = {k: v.to(_device(model)) for k, v in enc.items()}
        return model(**enc).logits[:, entail]

    per_pair = _run(pairs, batch_size, score).view(len(texts), len(flat))
    cols, start = [], 0
    for hyps in hypotheses:
        cols.append(per_pair[:, start : start + len(hyps)].mean(1))
        start += len(hyps)
    return torch.stack(cols, 1).numpy()


class ZeroshotClassifier(torch.nn.Module):
    """A zero-shot run's scorer: its model and what its method scores with (label descriptions,
    verbaliser words and cloze template, or NLI hypotheses). `class_scores` gives the raw scores
    [n, labels] the run's predictions were decided by (similarities or logits, not probabilities).
    The model of `tasks.scored.ScoredClassificationTask`, and what `rawtune zeroshot` scores with."""

    probabilities = False

    def __init__(self, method: str, model: Any, max_length: int, **how: Any):
        super().__init__()
        self.method, self.model, self.max_length, self.how = method, model, max_length, how

    def class_scores(self, tokenizer: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
        kw = {"batch_size": batch_size, "max_length": self.max_length}
        how, texts = self.how, list(texts)
        if self.method == "cloze":
            prompts = cloze_prompts(tokenizer, texts, how["template"], self.max_length)
            return cloze_scores(self.model, tokenizer, prompts, how["word_ids"], **kw)
        if self.method == "nli":
            return nli_scores(self.model, tokenizer, texts, how["hypotheses"], how["entail"], **kw)
        return embedding_scores(self.model, tokenizer, texts, how["label_texts"], how["pooling"], **kw)


def load_zeroshot(cfg: Any) -> tuple[ZeroshotClassifier, Any, dict[str, Any]]:
    """The scorer of a `rawtune zeroshot` config (`config.zeroshot.ZeroshotConfig`), its tokenizer,
    and the facts a run records of it. Everything about the model (verbaliser tokens, entailment
    label, MLM head) is checked here, before a run directory exists."""
    from rawtune.modeling import zeroshot as models
    from rawtune.modeling.backbone import load_tokenizer, resolve

    src = resolve(cfg.model.name_or_path)
    tok = load_tokenizer(src.ref, cfg.model)
    facts: dict[str, Any] = {"model_source": {"ref": src.ref, "kind": src.kind}, "parent": src.parent_run}
    label_texts = describe(cfg.labels, cfg.descriptions)
    n = cfg.data.max_length
    if cfg.method == "cloze":
        model = models.load_mlm(src, cfg.model)
        ids = verbalizer_ids(tok, cfg.verbalizer, cfg.labels)
        facts["verbalizer_tokens"] = dict(zip(cfg.labels, tok.convert_ids_to_tokens(ids)))
        return ZeroshotClassifier("cloze", model, n, template=cfg.template or "", word_ids=ids), tok, facts
    if cfg.method == "nli":
        model, entail = models.load_nli(src, cfg.model)
        template = cfg.template or ""
        hypotheses = [[template.format(label=t) for t in texts] for texts in label_texts]
        facts["hypotheses"] = dict(zip(cfg.labels, hypotheses))
        return ZeroshotClassifier("nli", model, n, hypotheses=hypotheses, entail=entail), tok, facts
    model = models.load_encoder(src, cfg.model)
    pooling = models.sentence_pooling(src.ref)
    facts["pooling"] = {"mode": pooling.mode, "normalize": pooling.normalize}
    facts["descriptions"] = dict(zip(cfg.labels, label_texts))
    return ZeroshotClassifier("embedding", model, n, label_texts=label_texts, pooling=pooling), tok, facts
